"""A whole deployment on one machine, for `make demo-orchestrated` and the bench (whose sandboxes, standing
in for the accounts' APIs, come from dev/account_sandboxes.py: this package does not depend on the sandbox):
`dagster dev` (webserver, daemon, code server) whose run queue launches one run per
partition, at most `workers` at a time.

Nothing here schedules anything itself: runs are submitted to Dagster (GraphQL, as the UI does) and
Dagster's daemon decides when each starts, under the instance's limits (dagster.yaml: run queue, tag
limits per account, pools per API).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestration.accounts import ACCOUNT_TAG, Account, Accounts
from orchestration.settings import RUN_UMASK

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def instance_yaml(workers: int, postgres_url: str | None) -> dict[str, Any]:
    """dagster.yaml: a run queue of `workers` runs, one run per account at a time, pools enforced at
    run level (a run waits in the queue, not on a worker, while its API's pool is full)."""
    config: dict[str, Any] = {
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"dequeue_interval_seconds": 1},
        },
        "concurrency": {
            "runs": {
                "max_concurrent_runs": workers,
                "tag_concurrency_limits": [
                    {"key": ACCOUNT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
                ],
            },
            "pools": {"granularity": "run"},
        },
        "telemetry": {"enabled": False},
    }
    if postgres_url:
        config["storage"] = {"postgres": {"postgres_url": postgres_url}}
    return config


def write_private(path: Path, text: str) -> None:
    """`text` into `path`, created (or cut back to) 0600 before a byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def set_pool_limits(accounts: Accounts) -> None:
    """Each API's pool gets its `max_parallel` from the accounts file (DAGSTER_HOME's instance)."""
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        for api in accounts.apis.values():
            instance.event_log_storage.set_concurrency_slots(api.pool, api.max_parallel)


@dataclass
class RunOutcome:
    account: Account
    run_id: str
    status: str
    seconds: float | None
    error: str = ""


@dataclass
class DagsterDev:
    """`dagster dev -m orchestration.definitions` with its own DAGSTER_HOME, on a free port."""

    home: Path
    env: dict[str, str]
    workers: int
    postgres_url: str | None = None
    log_path: Path | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> None:
        # The instance file may hold a PostgreSQL URL with its password; the home holds runs' logs.
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        write_private(
            self.home / "dagster.yaml", yaml.safe_dump(instance_yaml(self.workers, self.postgres_url))
        )
        self.log_path = self.log_path or self.home / "dagster-dev.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child
        os.chmod(self.log_path, 0o600)
        argv = [str(BIN / "dagster"), "dev", "-m", "orchestration.definitions"]
        argv += ["-h", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(
            argv,
            env={**self.env, "DAGSTER_HOME": str(self.home)},
            stdout=log,
            stderr=log,
            start_new_session=True,
            umask=RUN_UMASK,  # what Dagster and every run it starts write: for this user alone
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited {self.proc.returncode}; log: {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5):
                    break
            except OSError as exc:
                if time.monotonic() > deadline:
                    message = f"dagster dev did not answer in {timeout:.0f} s; log: {self.log_path}"
                    raise RuntimeError(message) from exc
                time.sleep(0.5)
        self._wait_for_location(deadline)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        from dagster_graphql import DagsterGraphQLClient

        return DagsterGraphQLClient("127.0.0.1", port_number=self.port)

    def _wait_for_location(self, deadline: float) -> None:
        query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
        while True:
            data = self.client()._execute(query)
            entries = data["workspaceOrError"].get("locationEntries", [])
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the code location did not load; log: {self.log_path}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)  # dagster dev stops its webserver, daemon, code server
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> DagsterDev:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def materialize(
        self,
        accounts: Iterable[Account],
        run_config: Mapping[str, Any] | None = None,
        timeout: float = 3600,
        progress: Any = None,
    ) -> list[RunOutcome]:
        """Submit one run per account partition; wait for all; say how each ended."""
        from dagster import DagsterInstance, DagsterRunStatus

        client = self.client()
        submitted: dict[str, Account] = {}
        for account in accounts:
            run_id = client.submit_job_execution(
                f"{account.api}_accounts",
                run_config=run_config,
                tags={**account.run_tags, "dagster/partition": account.name},
            )
            submitted[run_id] = account
        done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
        deadline = time.monotonic() + timeout
        os.environ["DAGSTER_HOME"] = str(self.home)
        with DagsterInstance.get() as instance:
            finished: set[str] = set()
            while len(finished) < len(submitted):
                for run_id, account in submitted.items():
                    if run_id in finished:
                        continue
                    run = instance.get_run_by_id(run_id)
                    if run is not None and run.status in done:
                        finished.add(run_id)
                        if progress:
                            progress(f"  {account.label:<18} {run.status.value.lower()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"runs still going after {timeout:.0f} s: {len(submitted) - len(finished)}"
                    )
                time.sleep(0.5)
            outcomes = []
            for run_id, account in submitted.items():
                record = instance.get_run_record_by_id(run_id)
                assert record is not None
                seconds = (
                    record.end_time - record.start_time if record.end_time and record.start_time else None
                )
                outcomes.append(
                    RunOutcome(
                        account, run_id, record.dagster_run.status.value, seconds, run_error(instance, run_id)
                    )
                )
        return outcomes


def run_error(instance: Any, run_id: str) -> str:
    """The step failure's one-line description, if the run failed."""
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is not None and event.event_type_value == "STEP_FAILURE":
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return str(data.user_failure_data.description)
            return str(data.error.message if data.error else "").strip().split("\n")[0]
    return ""
