"""`meltano run` end to end: every tap against its sandbox, into DuckDB, JSONL and PostgreSQL, with the
bulk loaders (the project's defaults) and the stock ones they can replace.

Real Meltano, real plugin venvs, real HTTP on 127.0.0.1, a real PostgreSQL server; per table the loaded ids
must equal the sandbox's truth, a second run must merge on `id`, Meltano must keep the state, and a wrong
key must fail loudly.

Why the matrix has the shape it has (each cell is two `meltano run`s, ~20 s on the test machines):

- Our bulk loaders (target-duckdb-bulk, target-postgres-bulk) take every tap: they are our code, and each
  tap's streams (integer ids for crm and projects, string ids for leads, nested objects, numbers, dates)
  are what they must type, load and merge.
- The stock loaders (target-duckdb, target-postgres, target-jsonl) are others' code; what a cell proves is
  that our taps' output works with them, and the three taps write that output with one kit (tapkit). So
  each stock loader runs one tap, a different one per loader, and every tap meets a stock loader:
  target-postgres gets tap-crm (the most streams and types, into the strictly typed database),
  target-duckdb gets tap-leads (string keys, the most date-times: the column type target-duckdb 0.8.0
  once lost rows on, see test_meltano_loaders.py), target-jsonl gets tap-projects. The stock cells keep
  every assertion of the bulk ones (state kept, second run merges).
- The wrong key runs every tap: each sends its key its own way (header names differ), and each must keep
  it out of the log.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from warehouse import (
    MERGE_PROBES,
    duckdb_execute,
    duckdb_ids,
    duckdb_tables,
    jsonl_ids,
    merge_probe_check_sql,
    merge_probe_sql,
    postgres_execute,
    postgres_ids,
    postgres_tables,
    tap_env,
    target_postgres_env,
)

from api_sandbox import run_sandbox

TAPS = ("crm", "projects", "leads")
RECORDS = 300
BULK_LOADERS = {"duckdb": "target-duckdb-bulk", "postgres": "target-postgres-bulk"}
# The stock loaders' one tap each (see the module docstring).
STOCK_TAP = {"target-duckdb": "leads", "target-postgres": "crm", "target-jsonl": "projects"}


def _cells(warehouse: str, stock: str) -> list[Any]:
    """(tap, loader) pairs: the bulk loader of `warehouse` with every tap, `stock` with its one tap."""
    pairs = [(tap, BULK_LOADERS[warehouse]) for tap in TAPS] + [(STOCK_TAP[stock], stock)]
    return [pytest.param(tap, loader, id=f"{tap}-{loader}") for tap, loader in pairs]


def _norm(ids: list[Any]) -> list[str]:
    return sorted(str(i) for i in ids)


def _output(result: Any) -> str:
    return (
        f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-8000:]}"
    )


def _without(ids: list[Any], marker: str) -> list[Any]:
    """The loaded ids but the merge probe's marker row."""
    return [i for i in ids if str(i) != marker.strip("'")]


def _assert_loaded(truth: dict[str, list[Any]], tables: list[str], ids_of: Any) -> None:
    """Every resource is a table whose ids are exactly the truth's: no row lost, none doubled."""
    assert sorted(tables) == sorted(truth), "tables differ from the sandbox's resources"
    for name, expected in truth.items():
        loaded = ids_of(name)
        duplicates = [i for i, n in Counter(loaded).items() if n > 1]
        assert not duplicates, f"{name}: duplicate ids {duplicates[:5]}"
        assert len(loaded) == len(expected), f"{name}: {len(loaded)} rows, truth has {len(expected)}"
        assert _norm(loaded) == _norm(expected), f"{name}: ids differ from the truth"


@pytest.mark.parametrize(("tap", "loader"), _cells("duckdb", "target-duckdb"))
def test_run_into_duckdb_merges_and_keeps_state(tap: str, loader: str, meltano_run: Any) -> None:
    with run_sandbox(tap, records=RECORDS, seed=0) as sb:
        env = tap_env(tap, sb.base_url)
        first = meltano_run("run", f"tap-{tap}", loader, env=env)
        assert first.returncode == 0, _output(first)
        truth = sb.truth()
        schema = f"tap_{tap}"
        db = meltano_run.duckdb_path
        _assert_loaded(truth, duckdb_tables(db, schema), lambda t: duckdb_ids(db, schema, t))

        # Meltano stored the state the target echoed, under the run's default state id.
        state_id = f"dev:tap-{tap}-to-{loader}"
        listed = meltano_run("state", "list")
        assert listed.returncode == 0, _output(listed)
        assert state_id in listed.stdout, _output(listed)
        got = meltano_run("state", "get", state_id)
        assert got.returncode == 0, _output(got)
        state = json.loads(got.stdout)
        assert "bookmarks" in state["singer_state"], state

        # A second, full run merges: a row it does not send stays, a row it sends is updated, no id twice.
        table, marker = MERGE_PROBES[tap]
        python = meltano_run.sys_dir / "loaders" / loader / "venv" / "bin" / "python"
        duckdb_execute(python, db, *merge_probe_sql(schema, table, marker, "duckdb"))
        second = meltano_run("run", "--full-refresh", f"tap-{tap}", loader, env=env)
        assert second.returncode == 0, _output(second)
        kept, restored = duckdb_execute(python, db, merge_probe_check_sql(schema, table, marker))[0]
        assert (kept, restored) == (1, 1), (
            f"{loader}: not a merge (marker kept: {kept}, row updated: {restored})"
        )
        _assert_loaded(
            truth, duckdb_tables(db, schema), lambda t: _without(duckdb_ids(db, schema, t), marker)
        )


def test_run_into_jsonl(meltano_run: Any) -> None:
    tap = STOCK_TAP["target-jsonl"]
    with run_sandbox(tap, records=RECORDS, seed=0) as sb:
        result = meltano_run("run", f"tap-{tap}", "target-jsonl", env=tap_env(tap, sb.base_url))
        assert result.returncode == 0, _output(result)
        truth = sb.truth()
    # destination_path in the tests is one directory; files are <stream>.jsonl.
    files = {p.stem: p for p in meltano_run.jsonl_dir.glob("*.jsonl")}
    _assert_loaded(truth, list(files), lambda t: jsonl_ids(files[t]))


@pytest.mark.parametrize(("tap", "loader"), _cells("postgres", "target-postgres"))
def test_run_into_postgres_merges(tap: str, loader: str, meltano_run: Any, pg_database: str) -> None:
    env_pg = target_postgres_env(pg_database, loader)
    with run_sandbox(tap, records=RECORDS, seed=0) as sb:
        env = {**tap_env(tap, sb.base_url), **env_pg}
        first = meltano_run("run", f"tap-{tap}", loader, env=env)
        assert first.returncode == 0, _output(first)
        truth = sb.truth()
        schema = f"tap_{tap}"
        _assert_loaded(
            truth, postgres_tables(pg_database, schema), lambda t: postgres_ids(pg_database, schema, t)
        )
        table, marker = MERGE_PROBES[tap]
        postgres_execute(pg_database, *merge_probe_sql(schema, table, marker, "postgres"))
        second = meltano_run("run", "--full-refresh", f"tap-{tap}", loader, env=env)
        assert second.returncode == 0, _output(second)
        kept, restored = postgres_execute(pg_database, merge_probe_check_sql(schema, table, marker))[0]
        assert (kept, restored) == (1, 1), (
            f"{loader}: not a merge (marker kept: {kept}, row updated: {restored})"
        )
        _assert_loaded(
            truth,
            postgres_tables(pg_database, schema),
            lambda t: _without(postgres_ids(pg_database, schema, t), marker),
        )


@pytest.mark.parametrize("tap", TAPS)
def test_wrong_key_fails_with_a_clear_message(tap: str, meltano_run: Any) -> None:
    wrong = "not-the-sandbox-key"
    with run_sandbox(tap, records=20, seed=0) as sb:
        result = meltano_run("run", f"tap-{tap}", "target-jsonl", env=tap_env(tap, sb.base_url, wrong))
    assert result.returncode != 0, _output(result)
    text = result.stdout + result.stderr
    assert "HTTP 401" in text, _output(result)
    assert "Check the api_key setting" in text, _output(result)
    assert wrong not in text, "the key must never be logged"


def test_job_runs_all_three_taps(meltano_run: Any) -> None:
    """The `all-to-duckdb` job of meltano.yml: the three taps in one `meltano run`."""
    with (
        run_sandbox("crm", records=50, seed=1) as crm,
        run_sandbox("projects", records=50, seed=1) as projects,
        run_sandbox("leads", records=50, seed=1) as leads,
    ):
        env = {
            **tap_env("crm", crm.base_url),
            **tap_env("projects", projects.base_url),
            **tap_env("leads", leads.base_url),
        }
        result = meltano_run("run", "all-to-duckdb", env=env)
        assert result.returncode == 0, _output(result)
        db = meltano_run.duckdb_path
        for sb in (crm, projects, leads):
            schema = f"tap_{sb.api}"
            _assert_loaded(sb.truth(), duckdb_tables(db, schema), lambda t, s=schema: duckdb_ids(db, s, t))


def test_numeric_settings_from_the_environment(meltano_run: Any) -> None:
    """TAP_CRM_BACKOFF_FACTOR=0.01 works: Meltano 4.4.1 crashes on env overrides of `decimal` settings,
    so numbers are declared as strings and the tap reads numeric strings as numbers."""
    from api_sandbox import Fault

    faults = [Fault(kind="status", status=503, path="/v1/tasks", count=2)]
    with run_sandbox("crm", records=40, seed=0, faults=faults) as sb:
        env = {
            **tap_env("crm", sb.base_url),
            "TAP_CRM_BACKOFF_FACTOR": "0.01",
            "TAP_CRM_REQUEST_TIMEOUT": "7.5",
            "TAP_CRM_MAX_RETRIES": "2",
        }
        result = meltano_run("run", "tap-crm", "target-duckdb-bulk", env=env)
        assert result.returncode == 0, _output(result)
        assert "retry 2 of 2 in 0.0 s" in result.stderr, _output(result)
        db = meltano_run.duckdb_path
        _assert_loaded(sb.truth(), duckdb_tables(db, "tap_crm"), lambda t: duckdb_ids(db, "tap_crm", t))
