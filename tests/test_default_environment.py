"""Issue 25 item 1: a run that names no Meltano environment never sends a key to the sandbox's URL.

The project's default environment is `prod` (the APIs' real origins); `dev` (the sandboxes on 127.0.0.1)
is only ever named. Meltano ranks a key in the environment above an environment's config, so a run that
fell into `dev` by default would send a real key to whatever listens on the sandbox port.

The proof runs the repository's meltano.yml with two listeners standing in for its URLs: raw sockets on
127.0.0.1 that record every byte that arrives and answer 401. One takes the place of the `dev`
environment's `http://127.0.0.1:8301`, the other of tap-crm's real origin (`https://api.example.com`,
never contacted from a test). Both the base tap and an account's extractor are run with a real-looking key
in the environment and no environment named: the key reaches the origin's listener, never the sandbox's.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import MeltanoRunner

from bench.meltano_project import MeltanoProject, project_yml
from orchestration.accounts import parse_accounts
from orchestration.meltano_plugins import INCLUDE_PATH, render

REAL_ORIGIN = "https://api.example.com"
SANDBOX = "http://127.0.0.1:8301"


class Listener:
    """A raw TCP server on 127.0.0.1: keeps every request head it is sent, answers 401, closes."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                self.received.append(data)
                with contextlib.suppress(OSError):
                    conn.sendall(
                        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listeners() -> Iterator[dict[str, Listener]]:
    made = {"sandbox": Listener(), "origin": Listener()}
    yield made
    for listener in made.values():
        listener.close()


def test_a_run_naming_no_environment_sends_the_key_to_the_real_origin_only(
    meltano_project: MeltanoProject, listeners: dict[str, Listener], tmp_path: Path
) -> None:
    text = project_yml()
    assert "default_environment: prod" in text
    assert SANDBOX in text and REAL_ORIGIN in text, (
        "the URLs to stand in for moved: the test would prove nothing"
    )
    root = tmp_path / "project"
    root.mkdir()
    (root / "meltano.yml").write_text(
        text.replace(SANDBOX, listeners["sandbox"].url).replace(REAL_ORIGIN, listeners["origin"].url)
    )
    accounts = {"apis": {"crm": {"accounts": [{"name": "acme", "api_key_env": "CRM_ACME_API_KEY"}]}}}
    (root / INCLUDE_PATH).parent.mkdir(parents=True)
    (root / INCLUDE_PATH).write_text(render(parse_accounts(accounts, tmp_path / "accounts.yml")))
    project = MeltanoProject(root, meltano_project.sys_dir)
    project.env.pop("MELTANO_ENVIRONMENT")  # the point: no environment named
    workdir = tmp_path / "run"
    workdir.mkdir()
    meltano = MeltanoRunner(project, workdir)
    keys = {
        "tap-crm": ("TAP_CRM_API_KEY", f"sk_live_{uuid.uuid4().hex}"),
        "tap-crm--acme": ("CRM_ACME_API_KEY", f"sk_live_{uuid.uuid4().hex}"),
    }
    for plugin, (variable, key) in keys.items():
        assert "MELTANO_ENVIRONMENT" not in {**project.env, **meltano.env}  # a shell with a real key set
        result = meltano("run", plugin, "target-jsonl", env={variable: key, "TAP_CRM_MAX_RETRIES": "0"})
        assert result.returncode != 0, f"{plugin}: the 401 should have failed the run"
        assert "HTTP 401" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
        to_origin = b"".join(listeners["origin"].received)
        assert key.encode() in to_origin, f"{plugin}: the key never reached the API's origin"
    assert listeners["sandbox"].received == [], "a run naming no environment reached the sandbox's URL"


def test_dev_named_explicitly_reaches_the_sandbox(
    meltano_project: MeltanoProject, listeners: dict[str, Listener], tmp_path: Path
) -> None:
    """The other side of the same switch: the demo, the tests and the bench name `dev`, and get it."""
    root = tmp_path / "project"
    root.mkdir()
    text = (
        project_yml().replace(SANDBOX, listeners["sandbox"].url).replace(REAL_ORIGIN, listeners["origin"].url)
    )
    (root / "meltano.yml").write_text(text)
    (root / INCLUDE_PATH).parent.mkdir(parents=True)
    (root / INCLUDE_PATH).write_text(yaml.safe_dump({"plugins": {"extractors": []}}))
    project = MeltanoProject(root, meltano_project.sys_dir)
    assert project.env["MELTANO_ENVIRONMENT"] == "dev"
    workdir = tmp_path / "run"
    workdir.mkdir()
    result = MeltanoRunner(project, workdir)("config", "list", "tap-crm")
    line = re.search(r"^base_url .*$", result.stdout, re.M)
    assert line and listeners["sandbox"].url in line.group(0), (result.stdout + result.stderr)[-3000:]
