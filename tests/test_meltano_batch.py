"""`meltano run` hands records to our bulk loaders as BATCH files, with no setting, and as RECORD lines to
every other loader (kits/tapkit/tapkit/handover.py).

Real Meltano, real plugin venvs, a real sandbox, real DuckDB and PostgreSQL. The loaders' SDK reader
says what it was sent ("N records, M batch manifests"); target-jsonl, which knows no BATCH message, can
only have loaded the records if they came as RECORD lines. After a committed run no batch file is left;
a run killed with SIGKILL mid-sync, then run again, gives every id once and leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from warehouse import (
    duckdb_ids,
    duckdb_tables,
    jsonl_ids,
    postgres_ids,
    postgres_tables,
    tap_env,
    target_postgres_env,
)

from api_sandbox import run_sandbox
from bench.meltano_project import MELTANO
from tapkit import handover

TAP = "projects"
SCHEMA = "tap_projects"
READER = re.compile(r"\((\d+) schemas, (\d+) records, (\d+) batch manifests")


def _output(result: Any) -> str:
    return (
        f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-6000:]}"
    )


def _sent(result: Any) -> tuple[int, int]:
    """(RECORD messages, BATCH messages) the loader's reader says it was sent, over the run's streams."""
    found = READER.findall(result.stdout + result.stderr)
    assert found, "the loader did not report what it read:\n" + _output(result)
    return sum(int(f[1]) for f in found), sum(int(f[2]) for f in found)


def _assert_once(truth: dict[str, list[Any]], tables: list[str], ids_of: Any) -> None:
    assert sorted(tables) == sorted(truth), "tables differ from the sandbox's resources"
    for name, expected in truth.items():
        loaded = ids_of(name)
        twice = [i for i, n in Counter(loaded).items() if n > 1]
        assert not twice, f"{name}: ids loaded twice {twice[:5]}"
        assert sorted(map(str, loaded)) == sorted(map(str, expected)), f"{name}: ids differ from the truth"


def _batch_files(sys_dir: Path) -> list[Path]:
    root = sys_dir / "run" / "batch"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_duckdb_bulk_gets_batch_files_removed_once_committed(meltano_run: Any) -> None:
    with run_sandbox(TAP, records=250, seed=0) as sb:
        result = meltano_run("run", f"tap-{TAP}", "target-duckdb-bulk", env=tap_env(TAP, sb.base_url))
        assert result.returncode == 0, _output(result)
        truth = sb.truth()
    records, batches = _sent(result)
    assert (records, batches) == (0, len(truth)), "expected one BATCH file per stream and no RECORD"
    db = meltano_run.duckdb_path
    _assert_once(truth, duckdb_tables(db, SCHEMA), lambda t: duckdb_ids(db, SCHEMA, t))
    assert _batch_files(meltano_run.sys_dir) == [], "batch files left after a committed run"


def test_batch_files_are_private(meltano_run: Any) -> None:
    """Kept (batch_files_keep) to be looked at: the folder 0700, each file 0600."""
    with run_sandbox(TAP, records=20, seed=0) as sb:
        env = {**tap_env(TAP, sb.base_url), "TARGET_DUCKDB_BULK_BATCH_FILES_KEEP": "true"}
        result = meltano_run("run", f"tap-{TAP}", "target-duckdb-bulk", env=env)
        assert result.returncode == 0, _output(result)
    files = _batch_files(meltano_run.sys_dir)
    assert files, "no batch file written"
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, f"{path.name}: {oct(path.stat().st_mode)}"
        assert path.parent.stat().st_mode & 0o777 == 0o700, (
            f"{path.parent}: {oct(path.parent.stat().st_mode)}"
        )


def test_target_jsonl_gets_record_lines(meltano_run: Any) -> None:
    with run_sandbox(TAP, records=60, seed=0) as sb:
        result = meltano_run("run", f"tap-{TAP}", "target-jsonl", env=tap_env(TAP, sb.base_url))
        assert result.returncode == 0, _output(result)
        truth = sb.truth()
    files = {p.stem: p for p in meltano_run.jsonl_dir.glob("*.jsonl")}
    _assert_once(truth, list(files), lambda t: jsonl_ids(files[t]))
    assert not (meltano_run.sys_dir / "run" / "batch").exists(), "a batch folder for a RECORD run"


def test_batch_auto_false_sends_record_lines(meltano_run: Any) -> None:
    with run_sandbox(TAP, records=60, seed=0) as sb:
        env = {**tap_env(TAP, sb.base_url), "TAP_PROJECTS_BATCH_AUTO": "false"}
        result = meltano_run("run", f"tap-{TAP}", "target-duckdb-bulk", env=env)
        assert result.returncode == 0, _output(result)
        truth = sb.truth()
    assert _sent(result) == (sum(map(len, truth.values())), 0)


def test_postgres_bulk_gets_batch_files(meltano_run: Any, pg_database: str) -> None:
    with run_sandbox(TAP, records=120, seed=0) as sb:
        env = {**tap_env(TAP, sb.base_url), **target_postgres_env(pg_database, "target-postgres-bulk")}
        result = meltano_run("run", f"tap-{TAP}", "target-postgres-bulk", env=env)
        assert result.returncode == 0, _output(result)
        truth = sb.truth()
    assert _sent(result) == (0, len(truth))
    _assert_once(truth, postgres_tables(pg_database, SCHEMA), lambda t: postgres_ids(pg_database, SCHEMA, t))
    assert _batch_files(meltano_run.sys_dir) == []


def test_killed_run_resumes_every_id_once_and_leaves_no_file(meltano_run: Any) -> None:
    """SIGKILL to Meltano, the tap and the loader after the first file committed; the rerun (--force:
    Meltano's lock of the dead run) resumes from the last STATE and removes the dead run's folder."""
    with run_sandbox(TAP, records=200, seed=0, latency_ms=100, max_page_size=10) as sb:
        env = {
            **meltano_run.project.env,
            **meltano_run.env,
            **tap_env(TAP, sb.base_url),
            "TAP_PROJECTS_MAX_CONCURRENCY": "1",
        }
        argv = [MELTANO, "run", f"tap-{TAP}", "target-duckdb-bulk"]
        proc = subprocess.Popen(
            argv, cwd=meltano_run.project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip
        seen = []
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "target-duckdb-bulk" in line and "loaded" in line and "rows into" in line:
                break
        deadline = time.monotonic() + 20
        while not _batch_files(meltano_run.sys_dir) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the next stream's file is being written
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, "".join(seen[-30:])
        time.sleep(0.5)  # the killed processes gone
        assert _batch_files(meltano_run.sys_dir), "not killed mid-sync:\n" + "".join(seen[-40:])
        again = meltano_run(
            "run", "--force", f"tap-{TAP}", "target-duckdb-bulk", env=tap_env(TAP, sb.base_url)
        )
        assert again.returncode == 0, _output(again)
        truth = sb.truth()
    records, batches = _sent(again)
    assert records == 0 and batches >= 1, _output(again)
    db = meltano_run.duckdb_path
    _assert_once(truth, duckdb_tables(db, SCHEMA), lambda t: duckdb_ids(db, SCHEMA, t))
    assert _batch_files(meltano_run.sys_dir) == [], "files of the killed run not removed by the next run"


def test_not_under_meltano_means_record_lines() -> None:
    """A plain `tap | target` pipe (no Meltano in the environment or as the parent): no batch_config."""
    assert handover.auto_batch_config({}) is None
    assert (
        handover.auto_batch_config({"MELTANO_EXTRACTOR_NAME": "tap-x", "MELTANO_SYS_DIR_ROOT": "/nowhere"})
        is None
    )


@pytest.mark.parametrize("alive", [True, False])
def test_prune_removes_only_dead_runs(tmp_path: Path, alive: bool) -> None:
    pid = os.getpid() if alive else 2**22 + 1
    stat = handover._stat(os.getpid()) if alive else None
    folder = tmp_path / f"{pid}-{stat[1] if stat else 1}-abc"
    folder.mkdir()
    (folder / "f.json").write_text("{}\n")
    handover.prune(tmp_path)
    assert folder.exists() is alive
