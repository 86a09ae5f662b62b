"""Issue 23's "Done when": against a sandbox that sends what the taps' schemas do not declare, `meltano run`
of each tap into the loaders, under the default settings, lands every property of every record the API sent
with the value sent, compared field by field with the sandbox's records.

The drift (the same for every API, every resource): a new string property on every record from position 3,
a new nested object every 4th record, a date-time on one record only, and a new integer property that turns
into a number from position 22 (the second page of a crm or leads listing: the loader sees a SCHEMA that
widens a column it already holds). One more cell per bulk loader turns it into a string instead: the tap
sends the union integer/string, which the loaders widen to JSON (issue 23 item 3), every value kept.

The dlt variant (dlt's default schema contract, evolve) loads the same drifting sandbox; its rows must hold
the same values as the tap's (nested objects as dlt's ``parent__child`` columns, a value of another type in
dlt's variant column; lists, dlt's child tables, are not compared).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from warehouse import tap_env, target_postgres_env

from api_sandbox import run_sandbox
from dlt_sources.pipeline import load, make_pipeline
from tapkit.testing import BIN, catalog_selecting, tap_config

DRIFT = [
    "add,name=region,kind=string,start=3",
    "add,name=profile,kind=object,start=1,every=4",
    "add,name=rare_seen_at,kind=date-time,start=7,every=10000",
    "add,name=score,kind=integer",
    "retype,name=score,to=number,start=22",
]
STOCK_VERSIONS = pytest.mark.xfail(
    reason="stock target-duckdb 0.8.0 meets integer -> number with a new column version: the rows loaded "
    "before the SCHEMA change lose their value in the column of the property's name",
    strict=False,
)
TO_TEXT = [*DRIFT[:-1], "retype,name=score,to=string,start=22"]
RECORDS = 30
# A paginated and an unpaginated resource of each API (the whole tap would cost minutes, not seconds).
STREAMS = {
    "crm": ["tasks", "persons"],
    "projects": ["tasks", "contacts"],
    "leads": ["leads", "categories"],
}
NEW = ("region", "profile", "rare_seen_at", "score")


def _same(sent: Any, loaded: Any) -> bool:
    """The loaded value is the value sent, as the warehouse holds it (timestamps, decimals, JSON text)."""
    if sent is None or loaded is None:
        return sent is None and loaded is None
    if isinstance(sent, dict | list):
        if isinstance(loaded, str):
            loaded = json.loads(loaded)
        if isinstance(sent, dict):
            return (
                isinstance(loaded, dict)
                and loaded.keys() == sent.keys()
                and all(_same(v, loaded[k]) for k, v in sent.items())
            )
        return isinstance(loaded, list) and len(loaded) == len(sent) and all(map(_same, sent, loaded))
    if isinstance(loaded, datetime):
        parsed = datetime.fromisoformat(str(sent).replace("Z", "+00:00"))
        return (loaded if loaded.tzinfo else loaded.replace(tzinfo=UTC)) == parsed
    if isinstance(loaded, date):
        return loaded == date.fromisoformat(str(sent))
    if isinstance(sent, bool) or isinstance(loaded, bool):
        return sent == loaded
    if isinstance(sent, int | float | Decimal) and isinstance(loaded, int | float | Decimal):
        return Decimal(str(sent)) == Decimal(str(loaded))
    if isinstance(loaded, str) and not isinstance(sent, str):
        return loaded == json.dumps(sent)  # a column widened to text holds the number as written
    return bool(sent == loaded)


def _assert_every_field(sent: list[dict], rows: list[dict], table: str, only: tuple[str, ...] = ()) -> None:
    """Every property of every record sent is a column holding the value sent (``only``: these)."""
    by_id = {str(r["id"]): r for r in rows}
    assert len(rows) == len(sent), f"{table}: {len(rows)} rows, the API sent {len(sent)}"
    seen_new = set()
    for record in sent:
        row = by_id[str(record["id"])]
        for name, value in record.items():
            if only and name not in only:
                continue
            assert name in row, f"{table}: no column {name!r} (record id {record['id']})"
            assert _same(value, row[name]), (
                f"{table} id {record['id']} {name}: sent {value!r}, loaded {row[name]!r}"
            )
            if name in NEW:
                seen_new.add(name)
    assert seen_new == set(NEW), f"{table}: the drift did not reach it ({sorted(seen_new)})"


def _duckdb_rows(path: Any, schema: str, table: str) -> list[dict]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        cur = con.execute(f'SELECT * FROM "{schema}"."{table}"')
        names = [d[0] for d in cur.description]
        # DuckDB hands a JSON column's value over as its text; read it as the JSON it is (psycopg2 does
        # the same for jsonb), so a string the column holds compares as that string
        json_columns = {d[0] for d in cur.description if str(d[1]).upper() == "JSON"}
        return [
            {
                n: json.loads(v) if n in json_columns and isinstance(v, str) else v
                for n, v in zip(names, row, strict=True)
            }
            for row in cur.fetchall()
        ]
    finally:
        con.close()


def _postgres_rows(dsn: str, schema: str, table: str) -> list[dict]:
    import psycopg2
    import psycopg2.extras

    con = psycopg2.connect(dsn)
    try:
        with con.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(f'SELECT * FROM "{schema}"."{table}"')
            return [dict(r) for r in cur.fetchall()]
    finally:
        con.close()


def _run(meltano_run: Any, tap: str, loader: str, sb: Any, env: dict[str, str] | None = None) -> None:
    select = {f"TAP_{tap.upper()}__SELECT": json.dumps([f"{s}.*" for s in STREAMS[tap]])}
    result = meltano_run(
        "run", f"tap-{tap}", loader, env={**tap_env(tap, sb.base_url), **select, **(env or {})}
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-6000:]}"


CELLS = [
    *[pytest.param(tap, "target-duckdb-bulk", DRIFT, id=f"{tap}-duckdb-bulk") for tap in STREAMS],
    pytest.param("crm", "target-duckdb", DRIFT[:-1], id="crm-target-duckdb"),
    pytest.param("crm", "target-duckdb", DRIFT, id="crm-target-duckdb-widened", marks=STOCK_VERSIONS),
    pytest.param("crm", "target-duckdb-bulk", TO_TEXT, id="crm-duckdb-bulk-to-text"),
]


@pytest.mark.parametrize(("tap", "loader", "drift"), CELLS)
def test_every_field_sent_lands_in_duckdb(tap: str, loader: str, drift: list[str], meltano_run: Any) -> None:
    with run_sandbox(tap, records=RECORDS, drift=drift) as sb:
        _run(meltano_run, tap, loader, sb)
        for stream in STREAMS[tap]:
            rows = _duckdb_rows(meltano_run.duckdb_path, f"tap_{tap}", stream)
            if loader == "target-duckdb":
                _assert_every_field(sb.records(stream), rows, stream, only=NEW)  # what drifted, strictly
                if any(v == "" for record in sb.records(stream) for v in record.values()):
                    pytest.xfail("stock target-duckdb 0.8.0 loads an empty string as NULL (drift or none)")
            _assert_every_field(sb.records(stream), rows, stream)


@pytest.mark.parametrize(
    ("tap", "drift"),
    [
        *[pytest.param(tap, DRIFT, id=tap) for tap in STREAMS],
        pytest.param("crm", TO_TEXT, id="crm-to-text"),
    ],
)
def test_every_field_sent_lands_in_postgres(
    tap: str, drift: list[str], meltano_run: Any, pg_database: str
) -> None:
    with run_sandbox(tap, records=RECORDS, drift=drift) as sb:
        _run(
            meltano_run,
            tap,
            "target-postgres-bulk",
            sb,
            target_postgres_env(pg_database, "target-postgres-bulk"),
        )
        for stream in STREAMS[tap]:
            rows = _postgres_rows(pg_database, f"tap_{tap}", stream)
            _assert_every_field(sb.records(stream), rows, stream)


# -- the dlt variant: the same drifting sandbox, the same values ------------------------------------------


def _flattened(record: dict, prefix: str = "") -> dict[str, Any]:
    """A record as dlt lays it out: nested objects as ``parent__child`` columns; lists go to child tables
    (not compared here)."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, dict):
            out.update(_flattened(value, f"{prefix}{name}__"))
        elif not isinstance(value, list):
            out[f"{prefix}{name}"] = value
    return out


def _dlt_value(row: dict, column: str) -> Any:
    """A column's value in a dlt row; dlt puts a value of another type in a variant column (``x__v_text``)."""
    if row.get(column) is not None:
        return row[column]
    variants = [v for k, v in row.items() if k.startswith(f"{column}__v_") and v is not None]
    return variants[0] if variants else None


def test_dlt_and_the_tap_land_the_same_values_from_a_drifting_api(tmp_path: Any) -> None:
    streams = STREAMS["crm"]
    with run_sandbox("crm", records=RECORDS, drift=DRIFT) as sb:
        dlt_file = tmp_path / "dlt.duckdb"
        pipeline = make_pipeline(
            "crm", duckdb_file=dlt_file, pipelines_dir=tmp_path / "pipelines", dataset="crm"
        )
        load("crm", pipeline, api_key="sandbox-key", base_url=sb.base_url)
        config = tap_config(sb.base_url)
        files = {
            "tap.json": config,
            "catalog.json": catalog_selecting("tap-crm", config, *streams),
            "target.json": {"filepath": str(tmp_path / "tap.duckdb"), "default_target_schema": "tap_crm"},
        }
        for name, content in files.items():
            (tmp_path / name).write_text(json.dumps(content))
        tap = subprocess.Popen(
            [BIN / "tap-crm", "--config", tmp_path / "tap.json", "--catalog", tmp_path / "catalog.json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        target = subprocess.run(
            [BIN / "target-duckdb-bulk", "--config", tmp_path / "target.json"],
            stdin=tap.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        assert tap.wait() == 0 and target.returncode == 0, target.stderr[-3000:]
        for stream in streams:
            sent = sb.records(stream)
            dlt_rows = {str(r["id"]): r for r in _duckdb_rows(dlt_file, "crm", stream)}
            tap_rows = _duckdb_rows(tmp_path / "tap.duckdb", "tap_crm", stream)
            _assert_every_field(sent, tap_rows, stream)
            assert len(dlt_rows) == len(sent), f"dlt {stream}: {len(dlt_rows)} rows, the API sent {len(sent)}"
            for record in sent:
                row = dlt_rows[str(record["id"])]
                for column, value in _flattened(record).items():
                    loaded = _dlt_value(row, column)
                    assert _same(value, loaded), (
                        f"dlt {stream} id {record['id']} {column}: {value!r} != {loaded!r}"
                    )
