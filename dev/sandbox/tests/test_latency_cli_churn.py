"""Latency overlaps across concurrent requests; the CLI contract; churn and stable ids; control endpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sandbox_testlib import auth_headers, get, ids

from api_sandbox import run_sandbox


def test_latency_does_not_serialize_concurrent_requests() -> None:
    with run_sandbox("crm", latency_ms=200) as sb:
        t0 = time.perf_counter()
        get(sb, "/v1/tasks")
        single = time.perf_counter() - t0
        assert single >= 0.2
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: get(sb, "/v1/tasks").status_code, range(8)))
        elapsed = time.perf_counter() - t0
        assert statuses == [200] * 8
        assert elapsed < 0.5 * 8 * 0.2  # serialized would be 1.6 s; overlapping is about 0.2 s


def test_cli_prints_base_url_first_and_exits_0_on_sigterm() -> None:
    for api, suffix, path in (("leads", "/v2", "/leads"), ("crm", "", "/v1/tasks")):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "api_sandbox.cli",
                "serve",
                "--api",
                api,
                "--port",
                "0",
                "--records",
                "30",
                "--api-key",
                "k9",
                "--seed",
                "3",
                "--fault",
                "503,path=/v1/accounts,count=1",
                "--max-page-size",
                "7",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("http://127.0.0.1:") and line.endswith(suffix) and line.count(":") == 2
            r = requests.get(line + path, headers=auth_headers(api, "k9"), params={"limit": 100}, timeout=5)
            assert r.status_code == 200 and len(r.json()["data"]) == 7
            if api == "crm":
                h = auth_headers(api, "k9")
                assert requests.get(line + "/v1/accounts", headers=h, timeout=5).status_code == 503
                assert requests.get(line + "/v1/accounts", headers=h, timeout=5).status_code == 200
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_cli_sigint_exits_0() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_sandbox.cli", "serve", "--api", "projects"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("http://127.0.0.1:")
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=10) == 0


def test_cli_help_documents_fault_syntax() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "api_sandbox.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for word in ("--fault", "retry_after_date", "on=1+2+5", "rate=", "no_selector", "drop", "--churn"):
        assert word in out


def test_churn_keeps_stable_ids_correct() -> None:
    with run_sandbox("crm", records=200, churn=0.5, seed=1) as sb:
        initial = sb.truth("tasks")
        assert sb.stable_ids("tasks") == initial
        seen: list[int] = []
        offset = 0
        while page := ids(get(sb, "/v1/tasks", {"offset": offset, "limit": 10}), "data"):
            seen += page
            offset += len(page)
        now = sb.truth("tasks")
        stable = sb.stable_ids("tasks")
        assert now != initial  # churn happened
        assert now == sorted(now) and len(set(now)) == len(now)
        assert stable == [i for i in initial if i in set(now)]  # never-deleted originals, in order
        assert len(stable) < len(initial)
        assert set(now) - set(initial)  # inserted records, with ids in the gaps
        assert all(i % 10 for i in set(now) - set(initial))
        assert set(stable) <= set(now)
        # a page shows the data as it was before the churn step that follows the request
        served = get(sb, "/v1/tasks", {"limit": 1000}).json()["data"]
        assert [r["id"] for r in served] == now
        http_truth = requests.get(sb.root_url + "/_sandbox/truth?stable=1", timeout=5).json()
        assert http_truth["tasks"] == sb.stable_ids("tasks")
        # non-paginated resources never churn
        assert sb.stable_ids("persons") == sb.truth("persons")


def test_churn_on_uncached_large_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    from api_sandbox import store

    monkeypatch.setattr(store, "CACHE_LIMIT", 100)
    with run_sandbox("projects", records=300, churn=1.0, seed=3) as sb:
        initial = sb.truth("files")
        page = get(sb, "/v1/files", {"from": 0, "size": 1000}).json()["files"]
        assert [r["id"] for r in page] == initial
        now = sb.truth("files")
        assert now != initial and now == sorted(now)
        assert sb.stable_ids("files") == [i for i in initial if i in set(now)]
        page = get(sb, "/v1/files", {"from": 0, "size": 1000}).json()["files"]
        assert [r["id"] for r in page] == now


def test_churn_string_ids_sort_between() -> None:
    with run_sandbox("leads", records=50, churn=1.0, seed=2) as sb:
        initial = sb.truth("leads")
        for _ in range(20):
            deleted, inserted = sb.churn_step("leads")
            assert deleted and inserted
        now = sb.truth("leads")
        assert now == sorted(now) and len(set(now)) == len(now)
        assert all(len(i) == len(initial[0]) for i in now)
        assert sb.stable_ids("leads") == [i for i in initial if i in set(now)]
        served = [r["id"] for r in get(sb, "/v2/leads", {"limit": 1000}).json()["data"]]
        assert served == now  # churn (rate 1.0) happens after the page is built
        assert sb.truth("leads") != now


def test_churn_is_seeded() -> None:
    def run(seed: int) -> list[int]:
        with run_sandbox("crm", records=100, churn=0.5, seed=seed) as sb:
            for off in range(0, 100, 10):
                get(sb, "/v1/tasks", {"offset": off, "limit": 10})
            return list(sb.truth("tasks"))

    assert run(4) == run(4)
    assert run(4) != run(5)


def test_control_endpoints_truth_and_resources() -> None:
    with run_sandbox("leads", records=20) as sb:
        truth = requests.get(sb.root_url + "/_sandbox/truth", timeout=5).json()
        assert truth == sb.truth() and set(truth) == {s.name for s in sb.resources}
        one = requests.get(sb.root_url + "/_sandbox/truth?resource=leads", timeout=5).json()
        assert one == sb.truth("leads")
        res = requests.get(sb.root_url + "/_sandbox/resources", timeout=5).json()
        assert [r["path"] for r in res] == [s.path for s in sb.resources]
        assert requests.get(sb.root_url + "/_sandbox/nope", timeout=5).status_code == 404
        before = time.time()
        get(sb, "/v2/leads", {"offset": 0, "limit": 5})
        log = sb.request_log()
        arrived = log[0].pop("time")
        assert before <= arrived <= time.time()
        assert log == [
            {
                "method": "GET",
                "path": "/v2/leads",
                "query": {"offset": "0", "limit": "5"},
                "status": 200,
                "auth_ok": True,
                "fault": None,
                "host": f"127.0.0.1:{sb.port}",
                "credentials": ["X-API-KEY"],
                "moved": False,
            }
        ]
