"""The loaders as meltano.yml installs them, fed a hand-written Singer stream: every row must land.

target-duckdb 0.8.0 with duckdb >= 1.3 drops the first row of every batch when timestamps carry `+00:00`;
meltano.yml pins duckdb 1.2.2 for it. The first test proves the pinned plugin loads every row; the
second shows the loss with an unpinned duckdb, so the pin can go once it stops reproducing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from warehouse import duckdb_ids, jsonl_ids, postgres_ids, target_postgres_env

from loaderkit.testing import lines, record, schema, state

ROWS = 250
BATCH = 100  # three batches: 100, 100, 50


def singer_stream(rows: int = ROWS) -> str:
    """SCHEMA, `rows` RECORDs whose timestamps end in +00:00, then STATE."""
    properties = {
        "id": {"type": "integer"},
        "name": {"type": ["string", "null"]},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
    }
    stamps = (f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00+00:00" for i in range(1, rows + 1))
    records = (record("events", id=i, name=f"n{i}", updated_at=s) for i, s in enumerate(stamps, start=1))
    return lines([schema("events", properties), *records, state(events={"last": rows})])


def _output(result: Any) -> str:
    return f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"


def test_pinned_target_duckdb_loads_every_row(meltano_run: Any) -> None:
    env = {"TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": "proof", "TARGET_DUCKDB_BATCH_SIZE_ROWS": str(BATCH)}
    result = meltano_run("invoke", "target-duckdb", env=env, input=singer_stream())
    assert result.returncode == 0, _output(result)
    ids = duckdb_ids(meltano_run.duckdb_path, "proof", "events")
    assert len(ids) == ROWS
    assert ids == list(range(1, ROWS + 1))
    # Merge on the key: the same stream again leaves the same rows.
    again = meltano_run("invoke", "target-duckdb", env=env, input=singer_stream())
    assert again.returncode == 0, _output(again)
    assert duckdb_ids(meltano_run.duckdb_path, "proof", "events") == list(range(1, ROWS + 1))


def _plugin_duckdb_version(meltano_project: Any, loader: str) -> str:
    """The duckdb version installed in a loader plugin's own venv."""
    python = meltano_project.sys_dir / "loaders" / loader / "venv" / "bin" / "python"
    return subprocess.run(
        [str(python), "-c", "import duckdb; print(duckdb.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_pinned_duckdb_version(meltano_project: Any) -> None:
    version = _plugin_duckdb_version(meltano_project, "target-duckdb")
    assert tuple(int(p) for p in version.split(".")[:2]) < (1, 3), version


def test_unpinned_duckdb_drops_the_first_row_of_each_batch(meltano_project: Any, tmp_path: Path) -> None:
    """Why the pin exists: the same stream through target-duckdb 0.8.0 on duckdb 2.0.0 loses rows."""
    venv = meltano_project.sys_dir.parent / "target-duckdb-unpinned"
    exe = venv / "bin" / "target-duckdb"
    if not exe.exists():
        uv = [sys.executable, "-m", "uv"]
        subprocess.run([*uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        done = subprocess.run(
            [*uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
             "target-duckdb==0.8.0", "duckdb==2.0.0"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            # Never a skip: the package index is reachable wherever this suite runs (CI installs from it).
            pytest.fail(f"could not install unpinned target-duckdb: {done.stderr[-500:]}")
    db = tmp_path / "unpinned.duckdb"
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"filepath": str(db), "default_target_schema": "proof", "batch_size_rows": BATCH})
    )
    subprocess.run(
        [str(exe), "--config", str(config)], input=singer_stream(), capture_output=True, text=True, check=True
    )
    ids = duckdb_ids(db, "proof", "events")
    assert len(ids) == ROWS - 3, f"expected the 3 batch-leading rows lost, got {len(ids)} of {ROWS}"
    assert {1, 101, 201}.isdisjoint(ids)


def test_target_postgres_loads_and_upserts(meltano_run: Any, pg_database: str) -> None:
    env = {**target_postgres_env(pg_database), "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "proof"}
    for _ in range(2):
        result = meltano_run("invoke", "target-postgres", env=env, input=singer_stream())
        assert result.returncode == 0, _output(result)
    assert postgres_ids(pg_database, "proof", "events") == list(range(1, ROWS + 1))


def test_target_postgres_without_password_is_refused(meltano_run: Any, pg_database: str) -> None:
    """MeltanoLabs target-postgres wants a password even when the server trusts the connection."""
    env = {**target_postgres_env(pg_database), "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "proof"}
    del env["TARGET_POSTGRES_PASSWORD"]
    result = meltano_run("invoke", "target-postgres", env=env, input=singer_stream(5))
    assert result.returncode != 0
    assert "password" in (result.stdout + result.stderr).lower()


def test_target_jsonl_writes_every_record(meltano_run: Any) -> None:
    result = meltano_run("invoke", "target-jsonl", input=singer_stream())
    assert result.returncode == 0, _output(result)
    assert jsonl_ids(meltano_run.jsonl_dir / "events.jsonl") == list(range(1, ROWS + 1))


@pytest.mark.parametrize("loader", ["target-duckdb-bulk", "target-postgres-bulk"])
def test_bulk_loaders_load_every_row_and_merge(loader: str, meltano_run: Any, request: Any) -> None:
    """The same stream through the bulk loaders as meltano.yml installs them: every row, twice merged,
    on a current duckdb, and into PostgreSQL without a password (the test server trusts the connection)."""
    prefix = loader.upper().replace("-", "_")
    env = {f"{prefix}_DEFAULT_TARGET_SCHEMA": "proof", f"{prefix}_BATCH_SIZE_ROWS": str(BATCH)}
    if loader == "target-postgres-bulk":
        dsn = request.getfixturevalue("pg_database")
        env.update(target_postgres_env(dsn, loader))
        del env[f"{prefix}_PASSWORD"]
    for _ in range(2):
        result = meltano_run("invoke", loader, env=env, input=singer_stream())
        assert result.returncode == 0, _output(result)
    if loader == "target-postgres-bulk":
        assert postgres_ids(dsn, "proof", "events") == list(range(1, ROWS + 1))
    else:
        assert duckdb_ids(meltano_run.duckdb_path, "proof", "events") == list(range(1, ROWS + 1))


def test_bulk_duckdb_loader_runs_on_a_current_duckdb(meltano_project: Any) -> None:
    version = _plugin_duckdb_version(meltano_project, "target-duckdb-bulk")
    assert tuple(int(p) for p in version.split(".")[:2]) >= (1, 4), version
