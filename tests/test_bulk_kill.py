"""kill -9 of a bulk loader mid-load under `meltano run`, then a rerun from Meltano's state.

The loader emits STATE only after the rows it covers are committed (singer-sdk drains every sink before
it writes the latest STATE; each load is one transaction). So whatever state Meltano stored before the
kill, the warehouse already holds every record it covers, and the rerun, resuming from it, leaves every
id of every stream exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import MeltanoRunner
from warehouse import duckdb_ids, duckdb_tables, postgres_ids, postgres_tables, tap_env, target_postgres_env

from api_sandbox import run_sandbox

RECORDS = 120  # 6 pages of 20 per paginated crm stream


def _descendants(root: int) -> list[int]:
    """Pids of every process below `root`, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _loader_pid(meltano_pid: int, loader: str) -> int | None:
    for pid in _descendants(meltano_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(Path(a.decode(errors="replace")).name == loader for a in argv[:2]):
            return pid
    return None


def _stored_bookmarks(db: Path, state_id: str) -> dict[str, Any]:
    if not db.exists():
        return {}
    con = sqlite3.connect(db)
    try:
        row = con.execute(
            "SELECT completed_state, partial_state FROM state WHERE state_id = ?", (state_id,)
        ).fetchone()
    except sqlite3.OperationalError:  # Meltano has not made its tables yet
        return {}
    finally:
        con.close()
    if row is None:
        return {}
    bookmarks: dict[str, Any] = {}
    for part in row:
        if part:
            bookmarks.update(json.loads(part).get("singer_state", {}).get("bookmarks", {}))
    return bookmarks


@pytest.mark.parametrize("loader", ["target-duckdb-bulk", "target-postgres-bulk"])
def test_kill_9_mid_load_then_rerun_every_id_once(
    loader: str, meltano_run: MeltanoRunner, request: pytest.FixtureRequest
) -> None:
    prefix = loader.upper().replace("-", "_")
    if loader == "target-postgres-bulk":
        dsn = request.getfixturevalue("pg_database")
        loader_env = target_postgres_env(dsn, loader)

        def ids(table: str) -> list[Any]:
            return postgres_ids(dsn, "tap_crm", table)

        def tables() -> list[str]:
            return postgres_tables(dsn, "tap_crm")
    else:
        loader_env = {}

        def ids(table: str) -> list[Any]:
            return duckdb_ids(meltano_run.duckdb_path, "tap_crm", table)

        def tables() -> list[str]:
            path = meltano_run.duckdb_path
            return duckdb_tables(path, "tap_crm") if path.exists() else []

    state_id = f"dev:tap-crm-to-{loader}"
    db = meltano_run.workdir / "meltano.db"
    # Slow pages, one at a time, small batches flushed every second: the kill lands mid-sync, after
    # Meltano has stored some of the loader's STATE.
    with run_sandbox("crm", records=RECORDS, seed=5, latency_ms=150) as sb:
        env = {
            **meltano_run.project.env,
            **meltano_run.env,
            **tap_env("crm", sb.base_url, max_concurrency="1"),
            **loader_env,
            f"{prefix}_BATCH_SIZE_ROWS": "15",
            # RECORD lines, so the loader's own batches are what the kill lands in (BATCH files, which
            # meltano run hands our loaders by default, are killed and resumed in test_meltano_batch.py).
            "TAP_CRM_BATCH_AUTO": "false",
            f"{prefix}_BATCH_WAIT_LIMIT_SECONDS": "1",
        }
        meltano = Path(meltano_run.project.env["PATH"].split(os.pathsep)[0]) / "meltano"
        proc = subprocess.Popen(
            [str(meltano), "run", "tap-crm", loader],
            cwd=meltano_run.project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not any(_stored_bookmarks(db, state_id).values()):
                assert proc.poll() is None, "the run ended before any state was stored"
                assert time.monotonic() < deadline, "no state stored within 120 s"
                time.sleep(0.1)
            pid = _loader_pid(proc.pid, loader)
            assert pid is not None, f"no {loader} process under meltano"
            os.kill(pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode != 0, err[-3000:]
        truth = sb.truth()

        # What Meltano stored is all in the warehouse: finished streams whole, a resumed one up to its
        # resume offset.
        stored = _stored_bookmarks(db, state_id)
        assert stored, "Meltano kept no state from the killed run"
        for stream, bookmark in stored.items():
            loaded = set(map(str, ids(stream))) if stream in tables() else set()
            resume = bookmark.get("resume")
            covered = truth[stream][: resume["offset"]] if resume else truth[stream]
            missing = set(map(str, covered)) - loaded
            assert not missing, f"{stream}: state covers {len(missing)} records not in the warehouse"

        rerun = meltano_run("run", "tap-crm", loader, env={**tap_env("crm", sb.base_url), **loader_env})
        assert rerun.returncode == 0, rerun.stderr[-4000:]
        for stream, expected in truth.items():
            final = ids(stream)
            assert not [i for i, n in Counter(final).items() if n > 1], f"{stream}: duplicates"
            assert sorted(map(str, final)) == sorted(map(str, expected)), f"{stream}: ids differ"
