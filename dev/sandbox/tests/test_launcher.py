"""The one launcher of `api-sandbox serve` as a child process, and its control client."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import pytest
import requests
from sandbox_testlib import auth_headers

from api_sandbox import Fault
from api_sandbox.cli import build_parser
from api_sandbox.launcher import SandboxProcess, SandboxStartError, read_base_url, serve_argv


def test_serve_argv_is_what_the_cli_reads() -> None:
    faults: list[Fault | str] = [
        "503,path=/v1/tasks,count=1",
        Fault(kind="redirect", location="/_moved{path}?a=1,b=2"),
    ]
    argv = serve_argv(
        "crm", records=7, seed=3, api_key="k", latency_ms=5, max_page_size=9, faults=faults, churn=0.5,
        repeat_ids=(9, 6), host="127.0.0.1", port=0, tls=("c.pem", "k.pem"),
    )  # fmt: skip
    args = build_parser().parse_args(argv)
    assert (args.api, args.records, args.seed, args.api_key, args.latency_ms) == ("crm", 7, 3, "k", 5.0)
    assert (args.max_page_size, args.churn, args.repeat_ids, args.port) == (9, 0.5, (9, 6), 0)
    assert (args.tls_cert, args.tls_key) == ("c.pem", "k.pem")
    assert args.faults == [Fault(kind="status", status=503, path="/v1/tasks", count=1), faults[1]]
    with pytest.raises(ValueError, match="command-line"):
        serve_argv("crm", max_page_size={"tasks": 3})
    with pytest.raises(ValueError, match="unknown sandbox options"):
        options: dict[str, Any] = {"recods": 3}  # a misspelt option
        serve_argv("crm", **options)


def test_sandbox_process_serves_and_is_inspected_over_http() -> None:
    with SandboxProcess(
        "crm", records=30, api_key="k1", repeat_ids=(9, 6), faults=["503,path=/v1/tasks,count=1"]
    ) as sb:
        assert sb.base_url == sb.root_url and sb.base_url.startswith("http://127.0.0.1:")
        assert sb.proc.poll() is None and sb.pid == sb.proc.pid
        url = sb.base_url + "/v1/tasks"
        assert requests.get(url, headers=auth_headers("crm", "k1"), timeout=10).status_code == 503
        served = requests.get(
            url, headers=auth_headers("crm", "k1"), params={"limit": 100}, timeout=10
        ).json()
        truth = sb.truth("tasks")
        assert [r["id"] for r in served["data"]] == truth and truth[8] == truth[2]  # repeat_ids reached it
        assert sb.truth()["tasks"] == truth and sb.stable_ids("tasks") == truth
        assert sb.requests_made("/v1/tasks") == 2
        assert [e["status"] for e in sb.request_log()] == [503, 200]
        sb.add_fault(Fault(kind="status", status=429, path="/v1/users", count=1))
        sb.add_fault({"kind": "echo", "path": "/v1/tags"})
        assert requests.get(sb.base_url + "/v1/users", timeout=10).status_code == 429
        assert "invalid key" in requests.get(sb.base_url + "/v1/tags", timeout=10).text
        sb.clear_faults()
        deleted, inserted = sb.churn_step("tags")
        assert deleted and inserted
        sb.reset()
        assert sb.stats() == {} and sb.request_log() == []
        assert sb.stop() == 0  # SIGTERM: exit 0
    assert sb.proc.returncode == 0


def test_leads_base_url_keeps_v2() -> None:
    with SandboxProcess("leads", records=5) as sb:
        assert sb.base_url == sb.root_url + "/v2"
        assert sb.truth("leads") == [f"ld_{n:09d}" for n in range(10, 60, 10)]


def test_start_failures_say_why() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(
            SandboxStartError,
            # one line from the child, no traceback
            match=r"did not start.*: api-sandbox: cannot serve crm on 127\.0\.0\.1:\d+: .*in use$",
        ):
            SandboxProcess("crm", port=port)
        assert time.monotonic() - t0 < 30
    # a child that never prints: bounded by the start timeout
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        assert silent.stdout is not None
        t0 = time.monotonic()
        with pytest.raises(SandboxStartError, match=r"no base URL within 0\.5 s"):
            read_base_url(silent.stdout, 0.5, silent)
        assert time.monotonic() - t0 < 5
    finally:
        silent.kill()
        silent.wait()
    # a child that prints something else first
    other = subprocess.Popen([sys.executable, "-c", "print('hello')"], stdout=subprocess.PIPE)
    assert other.stdout is not None
    with pytest.raises(SandboxStartError, match="got 'hello'"):
        read_base_url(other.stdout, 10, other)
    other.wait()
    other.stdout.close()
