"""Issue 12: the Dagster code location, in-process, against sandboxes and PostgreSQL.

One small deployment per module: four accounts (crm: acme and a second account whose key variable holds a
wrong key; projects: acme; leads: acme), each with its own sandbox, key and seed; `meltano run` through
Pipes into PostgreSQL with the project's bulk loader (`target-postgres-bulk`), Meltano's state in
PostgreSQL, the taps' catalogs written once (`orchestration.catalogs`). The first round runs every
partition at the same time, each in a worker process of its own through Dagster's `execute_job` with the
multiprocess executor (each step in its own process); the tests that only read its results share it.
Later single runs use the in-process executor (one step, in the run's own process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pg as pgserver
import pytest
import yaml
from warehouse import postgres_ids, postgres_tables, target_postgres_env

REPO = Path(__file__).resolve().parents[1]
# The module's first test also pays for the deployment (4 partition runs at once): more than the suite's
# 300 s only when the 2 cores are very busy.
pytestmark = pytest.mark.timeout(600)

from dagster import (  # noqa: E402
    DagsterInstance,
    DagsterRunStatus,
    JobDefinition,
    execute_job,
    instance_for_test,
    reconstructable,
)
from dagster._serdes import serialize_value  # noqa: E402

from api_sandbox.launcher import SandboxProcess  # noqa: E402
from orchestration.accounts import load_accounts  # noqa: E402
from orchestration.catalogs import write_catalogs  # noqa: E402
from orchestration.definitions import build_definitions  # noqa: E402
from orchestration.meltano_plugins import INCLUDE_PATH, render  # noqa: E402
from orchestration.pipes_meltano import MeltanoLog  # noqa: E402
from orchestration.settings import POSTGRES_LOADER  # noqa: E402

RECORDS = 60  # per paginated resource: a few pages each, small enough to stay quick
DECOY = f"decoy-{uuid.uuid4().hex}"
DECOYS = {
    "DAGSTER_PG_URL": f"postgresql://dagster:{DECOY}-dagster@127.0.0.1:1/dagster",
    "DEMO_PG_DSN": f"postgresql://postgres:{DECOY}-demo@127.0.0.1:1/postgres",
    "TARGET_POSTGRES_PASSWORD": f"{DECOY}-stock-loader",  # the loader a run does not use
    "TAP_CRM_API_KEY": f"{DECOY}-base-tap",
}
ACCOUNTS = {
    "apis": {
        "crm": {
            "max_parallel": 2,
            "accounts": [
                {"name": "acme", "api_key_env": "T12_CRM_ACME_KEY", "schema": "t12_crm_acme"},
                {"name": "wrongkey", "api_key_env": "T12_CRM_WRONGKEY_KEY", "schema": "t12_crm_wrongkey"},
            ],
        },
        "projects": {"accounts": [{"name": "acme", "api_key_env": "T12_PROJECTS_ACME_KEY"}]},
        "leads": {"accounts": [{"name": "acme", "api_key_env": "T12_LEADS_ACME_KEY"}]},
    }
}


# Module-level so that reconstructable() can load them again in the step processes.
def crm_job() -> JobDefinition:
    return build_definitions().resolve_job_def("crm_accounts")


def projects_job() -> JobDefinition:
    return build_definitions().resolve_job_def("projects_accounts")


def leads_job() -> JobDefinition:
    return build_definitions().resolve_job_def("leads_accounts")


JOBS = {"crm": crm_job, "projects": projects_job, "leads": leads_job}
MULTIPROCESS = {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}}
# The later single runs: their one step in the run's own process, as the demo and the bench run them.
IN_PROCESS: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}
# A worker process: one partition's run with the multiprocess executor, on the instance in argv[3].
WORKER = (
    "import sys\n"
    "import test_orchestration as t\n"
    "from dagster import DagsterInstance, execute_job, reconstructable\n"
    "api, account, home = sys.argv[1:4]\n"
    "with DagsterInstance.from_config(home) as i:\n"
    "    r = execute_job(reconstructable(t.JOBS[api]), instance=i, tags={'dagster/partition': account},\n"
    "                    run_config=t.MULTIPROCESS)\n"
    "    print(r.run_id, flush=True)\n"
)


@dataclass
class Deployment:
    root: Path
    env: dict[str, str]
    warehouse: str
    meltano_db: str
    keys: dict[str, str]  # account label -> the key its sandbox accepts
    sandboxes: dict[str, SandboxProcess]
    instance: DagsterInstance
    instance_dir: Path

    def run(self, api: str, account: str) -> Any:
        return execute_job(
            reconstructable(JOBS[api]),
            instance=self.instance,
            tags={"dagster/partition": account},
            run_config=IN_PROCESS,
        )

    def start_worker(self, api: str, account: str, log: Path) -> subprocess.Popen[bytes]:
        """The partition's run in a process of its own (a worker, as on another machine), on this
        deployment's Dagster instance; it prints the run's id when the run has ended."""
        with open(log, "wb") as out:
            return subprocess.Popen(
                [sys.executable, "-c", WORKER, api, account, str(self.instance_dir)],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO / "tests")},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def finished_run(self, worker: subprocess.Popen[bytes], log: Path) -> RunResult:
        """What a worker's run did, read back from the instance (status and event log)."""
        code = worker.wait(timeout=400)
        lines = log.read_text(errors="replace").strip().splitlines()
        assert code == 0 and lines, f"the worker failed (exit {code}): {log.read_text()[-3000:]}"
        run = self.instance.get_run_by_id(lines[-1].strip())
        assert run is not None, f"no run {lines[-1]!r}: {log.read_text()[-3000:]}"
        events = [e.dagster_event for e in self.instance.all_logs(run.run_id) if e.dagster_event]
        return RunResult(run.status == DagsterRunStatus.SUCCESS, events)


@dataclass
class RunResult:
    """What the tests read of a run: ExecuteJobResult's `success` and `all_events`."""

    success: bool
    all_events: list[Any]


def write_project_files(root: Path, accounts_path: Path) -> None:
    """The test accounts' inherited extractors, where the project's meltano.yml includes them."""
    include = root / INCLUDE_PATH
    include.parent.mkdir(parents=True, exist_ok=True)
    include.write_text(render(load_accounts(accounts_path)))


@pytest.fixture(scope="module")
def deployment(
    meltano_project: Any, postgres: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    from conftest import MeltanoRunner

    tmp = tmp_path_factory.mktemp("orchestration")
    accounts_path = tmp / "accounts.yml"
    accounts_path.write_text(yaml.safe_dump(ACCOUNTS))
    write_project_files(meltano_project.root, accounts_path)
    suffix = uuid.uuid4().hex[:8]
    warehouse = pgserver.create_database(postgres, f"t12_wh_{suffix}")
    meltano_db = pgserver.create_database(postgres, f"t12_meltano_{suffix}")
    (tmp / "meltano").mkdir()
    runner = MeltanoRunner(meltano_project, (tmp / "meltano").resolve())
    sandboxes: dict[str, SandboxProcess] = {}
    keys: dict[str, str] = {}
    env = {
        **runner.project.env,
        **runner.env,
        **target_postgres_env(warehouse, POSTGRES_LOADER),
        "MELTANO_DATABASE_URI": meltano_db,
        "MELTANO_ENVIRONMENT": "dev",
        "REST_TAPS_ACCOUNTS": str(accounts_path),
        "REST_TAPS_WAREHOUSE": "postgres",
        # The loader loads every 20 rows of a stream: a stopped run has committed batches before the stop,
        # which the rerun's rows (from the resume point on, one record early) are merged over.
        "TARGET_POSTGRES_BULK_BATCH_SIZE_ROWS": "20",
        # Each tap's catalog discovered once, handed to every run (Meltano's catalog extra).
        "REST_TAPS_CATALOG_DIR": str(tmp / "catalogs"),
        # A retry a second after a failure (30 s in a deployment): the killed-run test waits for one.
        "REST_TAPS_RETRY_DELAY_SECONDS": "1",
        # Secrets of the deployment that no run uses (issue 25): Dagster's storage, another warehouse,
        # the base tap's key. None may reach a run's processes.
        **DECOYS,
    }
    try:
        write_catalogs(tmp / "catalogs", meltano_project.root, env)
        for seed, account in enumerate(load_accounts(accounts_path).all(), start=11):
            key = f"k12-{account.api}-{account.name}-{uuid.uuid4().hex}"
            sandbox = SandboxProcess(account.api, api_key=key, seed=seed, records=RECORDS)
            sandboxes[account.label] = sandbox
            keys[account.label] = key
            prefix = account.extractor.upper().replace("-", "_")
            env[account.api_key_env] = key
            env[f"{prefix}_BASE_URL"] = sandbox.base_url
        # The wrong key: the variable holds another key than the one its sandbox accepts.
        env["T12_CRM_WRONGKEY_KEY"] = f"not-the-key-{uuid.uuid4().hex}"
        keys["crm/wrongkey (wrong)"] = env["T12_CRM_WRONGKEY_KEY"]
        with pytest.MonkeyPatch.context() as mp:
            for name in list(os.environ):
                if name not in env:
                    mp.delenv(name)
            for name, value in env.items():
                mp.setenv(name, value)
            instance_dir = tmp / "dagster"
            instance_dir.mkdir()
            with instance_for_test(temp_dir=str(instance_dir)) as instance:
                yield Deployment(
                    meltano_project.root, env, warehouse, meltano_db, keys, sandboxes, instance, instance_dir
                )
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()
        pgserver.drop_database(postgres, warehouse.rsplit("/", 1)[1])
        pgserver.drop_database(postgres, meltano_db.rsplit("/", 1)[1])


def step_failure(result: Any) -> str:
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.step_failure_data
            return str(data.user_failure_data.description if data.user_failure_data else data.error.message)
    return ""


def assert_every_id_once(deployment: Deployment, label: str, schema: str) -> None:
    truth = deployment.sandboxes[label].truth()
    assert sorted(postgres_tables(deployment.warehouse, schema)) == sorted(truth), label
    for table, ids in truth.items():
        loaded = postgres_ids(deployment.warehouse, schema, table)
        assert loaded == sorted(ids), f"{label} {table}: {len(loaded)} rows for {len(ids)} ids"


@pytest.fixture(scope="module")
def first_round(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every partition once, the four runs at the same time, each in a worker process of its own: three
    succeed, the wrong key fails."""
    labels = ["crm/acme", "crm/wrongkey", "projects/acme", "leads/acme"]
    logs = {label: tmp_path_factory.mktemp("worker") / "worker.log" for label in labels}
    workers = {}
    for label in labels:
        api, account = label.split("/")
        workers[label] = deployment.start_worker(api, account, logs[label])
    return {label: deployment.finished_run(worker, logs[label]) for label, worker in workers.items()}


def test_wrong_key_fails_that_partition_alone_with_the_taps_one_line_error(
    deployment: Deployment, first_round: dict[str, Any]
) -> None:
    bad = first_round["crm/wrongkey"]
    assert not bad.success
    error = step_failure(bad)
    assert error.startswith("crm/wrongkey: tap-crm: stream '"), error
    assert "HTTP 401" in error and "\n" not in error and "Traceback" not in error, error
    # Not retried: a retry cannot mend a refused key.
    assert not [e for e in bad.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    for label in ("crm/acme", "projects/acme", "leads/acme"):
        assert first_round[label].success, f"{label}: {step_failure(first_round[label])}"
    for table in postgres_tables(deployment.warehouse, "t12_crm_wrongkey"):  # made from SCHEMA, never filled
        assert postgres_ids(deployment.warehouse, "t12_crm_wrongkey", table) == [], table


def test_every_partition_lands_every_sandbox_id_exactly_once(
    deployment: Deployment, first_round: dict[str, Any]
) -> None:
    for label, schema in [("crm/acme", "t12_crm_acme"), ("projects/acme", "projects_acme"),
                          ("leads/acme", "leads_acme")]:  # fmt: skip
        assert first_round[label].success
        assert_every_id_once(deployment, label, schema)
    # Materializations carry the rows each stream synced, per partition.
    rows = {
        (e.asset_key.path[-1], e.partition): e.materialization.metadata["rows"].value
        for e in first_round["crm/acme"].all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    truth = deployment.sandboxes["crm/acme"].truth()
    assert rows == {(stream, "acme"): len(ids) for stream, ids in truth.items()}
    # The wrong key mended in its variable, the failed partition materializes too: now every partition has.
    os.environ["T12_CRM_WRONGKEY_KEY"] = deployment.keys["crm/wrongkey"]
    deployment.env["T12_CRM_WRONGKEY_KEY"] = deployment.keys["crm/wrongkey"]
    assert deployment.run("crm", "wrongkey").success
    assert_every_id_once(deployment, "crm/wrongkey", "t12_crm_wrongkey")


def test_no_key_in_dagster_logs_event_log_or_metadata(
    deployment: Deployment, first_round: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    places: dict[str, str] = {}
    for run in deployment.instance.get_runs():
        places[f"event log of run {run.run_id}"] = "\n".join(
            serialize_value(entry) for entry in deployment.instance.all_logs(run.run_id)
        )
        places[f"run record {run.run_id}"] = serialize_value(run)
    for path in deployment.instance_dir.rglob("*"):
        if path.is_file() and path.suffix in {".out", ".err", ".log", ".db", ""}:
            places[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    out, err = capfd.readouterr()
    places["captured output"] = out + err
    compute_logs = [p for p in places if p.endswith(".err")]
    assert compute_logs, "no compute logs found: the search would prove nothing"
    assert any("Beginning sync of" in places[p] for p in compute_logs), (
        "meltano's log is not in the compute log"
    )
    # Every run took its tap's catalog from REST_TAPS_CATALOG_DIR instead of discovering it.
    catalog_dir = deployment.env["REST_TAPS_CATALOG_DIR"]
    for run in deployment.instance.get_runs():
        assert f"Using custom catalog in {catalog_dir}/tap-" in places[f"event log of run {run.run_id}"], run
    for label, key in deployment.keys.items():
        leaked = [where for where, text in places.items() if key in text]
        assert not leaked, f"the key of {label} appears in {leaked}"


def stored_state(meltano_db: str, state_id: str) -> dict[str, Any]:
    import psycopg2

    con = psycopg2.connect(meltano_db)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT partial_state, completed_state FROM state WHERE state_id = %s", (state_id,))
            row = cur.fetchone()
    finally:
        con.close()
    if not row:
        return {}
    partial, completed = (json.loads(x) if x else {} for x in row)
    return partial.get("singer_state") or completed.get("singer_state") or {}


def test_killed_run_resumes_from_shared_state_on_the_rerun(deployment: Deployment, tmp_path: Path) -> None:
    """The run worker is told to stop (SIGTERM: Dagster's terminate, a pod evicted) mid-sync; a new run in
    another process, as on another machine, resumes from the state Meltano stored in PostgreSQL."""
    label, state_id = "crm/acme", f"dev:tap-crm--acme-to-{POSTGRES_LOADER}"
    # The same account's data (same seed), more of it, 100 ms a page, one page at a time until stopped.
    sandbox = SandboxProcess("crm", api_key=deployment.keys[label], seed=11, records=300, latency_ms=100)
    old = deployment.sandboxes[label]
    deployment.sandboxes[label] = sandbox
    try:
        os.environ["TAP_CRM__ACME_BASE_URL"] = sandbox.base_url
        os.environ["TAP_CRM__ACME_MAX_CONCURRENCY"] = "1"
        script = (
            "import test_orchestration as t\n"
            "from dagster import DagsterInstance, execute_job, reconstructable\n"
            f"with DagsterInstance.from_config({str(deployment.instance_dir)!r}) as i:\n"
            "    execute_job(reconstructable(t.crm_job), instance=i, tags={'dagster/partition': 'acme'})\n"
        )
        log = tmp_path / "worker.log"
        with open(log, "wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-c", script],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO / "tests")},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 300
        # Stopped in the sync's first stream (the SDK syncs streams in name order: accounts, 34 pages here)
        # after its 4th page, so no time goes on waiting through the other streams.
        while sum(r["path"] == "/v1/accounts" for r in sandbox.request_log()) < 4:
            assert worker.poll() is None, (
                f"the run ended before it could be stopped: {log.read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, "the sync never got to its 4th page of accounts"
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=180)
        bookmarks = stored_state(deployment.meltano_db, state_id).get("bookmarks", {})
        # The stream in flight when the stop arrived (accounts, or a later one on a slow machine).
        resumed = {s: b["resume"]["offset"] for s, b in bookmarks.items() if "resume" in b}
        assert len(resumed) == 1, f"expected one stream with a resume point: {bookmarks}"
        ((stream, stored),) = resumed.items()
        assert stored > 0, bookmarks
        resources = json.loads(urllib.request.urlopen(sandbox.root_url + "/_sandbox/resources").read())
        path = next(r["path"] for r in resources if r["name"] == stream)
        before = len(sandbox.request_log())
        os.environ.pop("TAP_CRM__ACME_MAX_CONCURRENCY")  # the rerun fetches 8 pages at a time again
        result = deployment.run("crm", "acme")
        assert result.success, step_failure(result)
        requests = [r for r in sandbox.request_log()[before:] if r["path"] == path]
        # Resumed one record early (the page overlap checks the data did not move), not from offset 0.
        assert min(int(r["query"]["offset"]) for r in requests) == stored - 1, (stream, requests[:3], stored)
        assert_every_id_once(deployment, label, "t12_crm_acme")
        bookmarks = stored_state(deployment.meltano_db, state_id)["bookmarks"]
        assert not [s for s, b in bookmarks.items() if "resume" in b], bookmarks
    finally:
        os.environ["TAP_CRM__ACME_BASE_URL"] = old.base_url
        os.environ.pop("TAP_CRM__ACME_MAX_CONCURRENCY", None)
        deployment.sandboxes[label] = old
        sandbox.stop()


def plugin_processes() -> dict[str, Any]:
    """This process's descendants that are the crm tap or the PostgreSQL loader (by executable), and the
    `meltano run` itself."""
    import psutil

    found: dict[str, Any] = {}
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        names = [Path(part).name for part in cmdline[:2]]
        if "tap-crm" in names:
            found["tap"] = child
        elif POSTGRES_LOADER in names:
            found["loader"] = child
        elif "meltano" in names and "run" in cmdline and "tap-crm--acme" in cmdline:
            found["meltano"] = child
    return found


def test_killed_meltano_is_retried_with_force_and_runs_hold_only_their_own_secrets(
    deployment: Deployment,
) -> None:
    """Issue 24 item 8 and issue 25 items 3-4, on one slow run of crm/acme. Mid-sync: the tap's and the
    loader's environments (/proc/<pid>/environ) hold no other account's key and none of the deployment's
    secrets the run does not use, and Meltano's config files are its user's alone (umask 077). Then
    `meltano run` is killed (SIGKILL: its lock on the state id stays behind for minutes); Dagster's retry,
    knowing the earlier attempt ended, passes `--force` and completes: every id once."""
    import threading

    label = "crm/acme"
    sandbox = SandboxProcess("crm", api_key=deployment.keys[label], seed=11, records=300, latency_ms=100)
    old = deployment.sandboxes[label]
    deployment.sandboxes[label] = sandbox
    seen: dict[str, Any] = {}

    def kill_mid_sync() -> None:
        deadline = time.monotonic() + 300
        try:
            while sum(r["path"] == "/v1/accounts" for r in sandbox.request_log()) < 4:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.1)
            procs = plugin_processes()
            for role in ("tap", "loader"):
                seen[role] = Path(f"/proc/{procs[role].pid}/environ").read_bytes().decode(errors="replace")
            run_dir = deployment.env["MELTANO_SYS_DIR_ROOT"] + "/run"
            seen["files"] = {
                str(p): p.stat().st_mode & 0o777 for p in Path(run_dir).rglob("*") if p.is_file()
            }
            procs["meltano"].send_signal(signal.SIGKILL)
            seen["killed"] = True
        except Exception as exc:  # reported by the assertions below
            seen["error"] = repr(exc)

    try:
        os.environ["TAP_CRM__ACME_BASE_URL"] = sandbox.base_url
        os.environ["TAP_CRM__ACME_MAX_CONCURRENCY"] = "1"
        killer = threading.Thread(target=kill_mid_sync, daemon=True)
        killer.start()
        result = deployment.run("crm", "acme")
        killer.join(timeout=60)
        assert seen.get("killed"), f"the run was not killed mid-sync: {seen.get('error')}"
        for role in ("tap", "loader"):
            environ = dict(line.split("=", 1) for line in seen[role].split("\0") if "=" in line)
            others = [k for lbl, k in deployment.keys.items() if not lbl.startswith(label)]
            leaked = [name for name, value in environ.items() if any(k in value for k in others)]
            assert not leaked, f"the {role} holds another account's key in {leaked}"
            leaked = [name for name, value in environ.items() if DECOY in value]
            assert not leaked, f"the {role} holds secrets its run does not use: {leaked}"
            assert not [n for n in environ if n.startswith("TARGET_DUCKDB") or n == "TEST_PG_DSN"], role
        assert "TARGET_POSTGRES_BULK_PASSWORD" in seen["loader"], "the loader lacks its own password"
        configs = {path: mode for path, mode in seen["files"].items() if path.endswith(".config.json")}
        assert len(configs) == 2, f"expected the tap's and the loader's config mid-run: {seen['files']}"
        assert all(mode == 0o600 for mode in configs.values()), "\n".join(
            f"{oct(m)} {p}" for p, m in configs.items()
        )
        assert result.success, step_failure(result)
        retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert len(retried) == 1, [e.event_type_value for e in result.all_events]
        logs = "\n".join(serialize_value(e) for e in deployment.instance.all_logs(result.run_id))
        assert "$ meltano run --force tap-crm--acme" in logs
        assert "already running" not in logs
        assert_every_id_once(deployment, label, "t12_crm_acme")
    finally:
        os.environ["TAP_CRM__ACME_BASE_URL"] = old.base_url
        os.environ.pop("TAP_CRM__ACME_MAX_CONCURRENCY", None)
        deployment.sandboxes[label] = old
        sandbox.stop()


def test_dlt_variant_loads_an_account_partition_and_keeps_its_key_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dlt code location: one partition of the leads dlt_assets into that account's DuckDB file."""
    import duckdb
    from dagster import AssetsDefinition, materialize

    from orchestration.dlt_definitions import build_dlt_definitions
    from orchestration.settings import Settings

    key = f"k12-dlt-{uuid.uuid4().hex}"
    sandbox = SandboxProcess("leads", api_key=key, seed=7, records=RECORDS)
    try:
        accounts = tmp_path / "accounts.yml"
        accounts.write_text(yaml.safe_dump({"apis": {"leads": {"accounts": [
            {"name": "acme", "api_key_env": "T12_DLT_LEADS_KEY"}]}}}))  # fmt: skip
        monkeypatch.setenv("T12_DLT_LEADS_KEY", key)
        monkeypatch.setenv("TAP_LEADS__ACME_BASE_URL", sandbox.base_url)
        monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        settings = Settings(accounts, tmp_path, "duckdb", tmp_path / "duckdb", POSTGRES_LOADER)
        defs = build_dlt_definitions(settings)
        with instance_for_test(temp_dir=str(tmp_path)) as instance:
            assets = [a for a in defs.assets or [] if isinstance(a, AssetsDefinition)]
            result = materialize(assets, partition_key="acme", resources=defs.resources, instance=instance)
            assert result.success
            logs = "".join(serialize_value(e) for e in instance.all_logs(result.run_id))
        assert key not in logs
        keys = {
            str(e.asset_key.to_user_string())
            for e in result.get_asset_materialization_events()
            if e.asset_key
        }
        truth = sandbox.truth()
        assert keys == {f"dlt/leads/{name}" for name in truth}
        con = duckdb.connect(str(tmp_path / "duckdb" / "dlt_leads_acme.duckdb"), read_only=True)
        try:
            for name, ids in truth.items():
                loaded = sorted(
                    r[0] for r in con.execute(f'SELECT id FROM leads_acme_dlt."{name}"').fetchall()
                )
                assert loaded == sorted(ids), name
        finally:
            con.close()
    finally:
        sandbox.stop()


def test_rows_per_stream_are_the_taps_record_counts_in_either_log_form() -> None:
    """Meltano hands a tap's metric on parsed (`metric_info`) or, when it does not read the plugin's
    structured log, as the SDK's `METRIC: {...}` text; both count. The loader's own count of the same
    rows (a consumer's metric) is not added again."""
    log = MeltanoLog()

    def counter(value: int, stream: str, metric: str = "record_count") -> dict[str, Any]:
        return {"type": "counter", "metric": metric, "value": value, "tags": {"stream": stream}}

    tap = {"string_id": "tap-crm--acme", "level": "info", "producer": True, "consumer": False}
    loader = {"string_id": POSTGRES_LOADER, "level": "info", "producer": False, "consumer": True}
    log.take({**tap, "event": "METRIC", "metric_info": counter(30, "accounts")})
    log.take({**tap, "event": "METRIC: " + json.dumps(counter(12, "tags"))})
    log.take({**tap, "event": "METRIC: " + json.dumps(counter(3, "tags"))})
    log.take({**tap, "event": "METRIC: " + json.dumps(counter(5, "tags", "http_request_count"))})
    log.take({**tap, "event": "METRIC: {not json"})
    log.take({**loader, "event": "METRIC", "metric_info": counter(30, "accounts")})
    log.take({**loader, "event": "METRIC: " + json.dumps(counter(15, "tags"))})
    assert dict(log.records) == {"accounts": 30, "tags": 15}
