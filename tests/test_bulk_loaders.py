"""target-duckdb-bulk and target-postgres-bulk on real DuckDB and PostgreSQL, every case on both.

Each test feeds the loader's CLI a hand-written Singer stream and reads back the tables: every id lands
once, a second run merges (a changed value is updated, a row the second run does not send survives), a
new property adds a column, a changed type widens or is refused, odd names are quoted, BATCH files load
without Python parsing them, numbers keep every digit, and every bad input ends with one line naming the
stream and the record, a non-zero exit, and nothing of the bad batch committed.
"""

from __future__ import annotations

import decimal
import gzip
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from bulk import (
    BIN,
    PLAIN_PROPS,
    Loader,
    first_state_after_a_wait,
    lines,
    only_error,
    output,
    record,
    schema,
    state,
)

PROPS = {
    **PLAIN_PROPS,
    "day": {"type": ["string", "null"], "format": "date"},
    "address": {"type": ["object", "null"], "properties": {"city": {"type": "string"}}},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
}
TYPES = {
    "duckdb": {
        "id": "bigint",
        "name": "varchar",
        "amount": "decimal(38,18)",
        "active": "boolean",
        "updated_at": "timestamp with time zone",
        "day": "date",
        "address": "json",
        "tags": "json",
    },
    "postgres": {
        "id": "bigint",
        "name": "text",
        "amount": "numeric",
        "active": "boolean",
        "updated_at": "timestamp with time zone",
        "day": "date",
        "address": "jsonb",
        "tags": "jsonb",
    },
}


def item(i: int, **changes: Any) -> dict[str, Any]:
    values = {
        "id": i,
        "name": f"n{i}",
        "amount": i + 0.5,
        "active": i % 2 == 0,
        "updated_at": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00+02:00",
        "day": "2024-02-29",
        "address": {"city": f"c{i}"},
        "tags": ["a", "b"],
    }
    return record("items", **{**values, **changes})


@pytest.fixture(params=["duckdb", "postgres"])
def loader(request: pytest.FixtureRequest, tmp_path: Path) -> Loader:
    dsn = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    return Loader(request.param, tmp_path, dsn)


def test_every_id_once_typed_columns_and_state_after_the_load(loader: Loader) -> None:
    messages = [schema("items", PROPS), *(item(i) for i in range(1, 301)), state(items={"offset": 300})]
    result = loader.run(messages, batch_size_rows=120)  # three loads: 120, 120, 60
    assert result.returncode == 0, output(result)
    assert loader.ids("items") == list(range(1, 301))
    assert loader.column_types("items") == TYPES[loader.kind]
    # The STATE comes out once everything before it is loaded (the SDK drains every sink first).
    assert [json.loads(ln) for ln in result.stdout.splitlines()] == [
        {"bookmarks": {"items": {"offset": 300}}}
    ]
    assert result.stderr.count("loaded 120 rows") == 2 and "loaded 60 rows" in result.stderr
    row = loader.rows("items", "name, amount, active, updated_at, day")[6]  # id 7
    assert row[0] == "n7" and row[1] == decimal.Decimal("7.5") and row[2] is False
    assert row[3].isoformat().startswith("2024-01-08T05:00:00") and str(row[4]) == "2024-02-29"


def test_numbers_keep_every_digit_and_nested_json_is_kept(loader: Loader) -> None:
    exact = "1234567890.123456789"
    raw = (
        '{"type":"RECORD","stream":"items","record":{"id":1,"amount":' + exact + ","
        '"address":{"city":"x","lat":52.520006599999995,"big":12345678901234567890123}}}'
    )
    result = loader.run([schema("items", PROPS), raw])
    assert result.returncode == 0, output(result)
    (amount,) = loader.rows("items", "CAST(amount AS VARCHAR)")[0]
    assert decimal.Decimal(amount) == decimal.Decimal(exact), amount
    (address,) = loader.rows("items", "CAST(address AS VARCHAR)")[0]
    assert "52.520006599999995" in address and "12345678901234567890123" in address, address


def test_second_run_merges_on_the_key(loader: Loader) -> None:
    first = [schema("items", PROPS), *(item(i) for i in range(1, 11))]
    assert (r := loader.run(first)).returncode == 0, output(r)
    # The second sync: ids 1-5 again with new names (id 3 twice: the later record wins), a new id 11;
    # ids 6-10 are not sent and must survive (a merge, not a drop-and-reload).
    second = [
        schema("items", PROPS),
        *(item(i, name=f"changed{i}") for i in range(1, 6)),
        item(3, name="changed3-again"),
        item(11),
    ]
    assert (r := loader.run(second)).returncode == 0, output(r)
    assert loader.ids("items") == list(range(1, 12)), "a merge leaves one row per key"
    names = dict(loader.rows("items", "id, name"))
    assert names[1] == "changed1" and names[3] == "changed3-again" and names[6] == "n6" and names[11] == "n11"


def test_stream_without_key_properties_appends(loader: Loader) -> None:
    messages = [
        schema("events", {"id": {"type": "integer"}}, keys=()),
        *(record("events", id=1) for _ in range(3)),
    ]
    for _ in range(2):
        assert (r := loader.run(messages)).returncode == 0, output(r)
    assert loader.ids("events") == [1] * 6


def test_schema_change_adds_a_column_and_widens_integer_to_number(loader: Loader) -> None:
    props = {"id": {"type": "integer"}, "qty": {"type": "integer"}}
    assert (r := loader.run([schema("items", props), record("items", id=1, qty=2)])).returncode == 0
    later = {**props, "qty": {"type": "number"}, "note": {"type": "string"}}
    result = loader.run([schema("items", later), record("items", id=2, qty=2.25, note="new")])
    assert result.returncode == 0, output(result)
    assert loader.rows("items", "id, qty, note") == [
        (1, decimal.Decimal(2), None),
        (2, decimal.Decimal("2.25"), "new"),
    ]
    assert "adding column 'note'" in result.stderr and "widening column 'qty'" in result.stderr, r.stderr


def test_a_narrowing_type_change_is_refused(loader: Loader) -> None:
    props = {"id": {"type": "integer"}, "code": {"type": "string"}}
    assert loader.run([schema("items", props), record("items", id=1, code="A7")]).returncode == 0
    result = loader.run(
        [schema("items", {**props, "code": {"type": "integer"}}), record("items", id=2, code=7)]
    )
    line = only_error(result, loader)
    assert "stream 'items'" in line and "column 'code' is string in the table but integer" in line, line
    assert loader.rows("items", "id, code") == [(1, "A7")]


def test_odd_stream_and_property_names(loader: Loader) -> None:
    stream = 'Odd "Stream" name.x'
    props = {
        "id": {"type": "integer"},
        "Mixed Case": {"type": "string"},
        'quote"d': {"type": "string"},
        "select": {"type": "string"},
        "naïve ünïcode": {"type": "integer"},
    }
    values = {"id": 1, "Mixed Case": "a", 'quote"d': "b", "select": "c", "naïve ünïcode": 4}
    messages = [schema(stream, props), record(stream, **values), record(stream, **{**values, "id": 2})]
    assert (r := loader.run(messages)).returncode == 0, output(r)
    rows = loader.query(
        'SELECT "id", "Mixed Case", "quote""d", "select", "naïve ünïcode" '
        'FROM "proof"."Odd ""Stream"" name.x" ORDER BY 1'
    )
    assert rows == [(1, "a", "b", "c", 4), (2, "a", "b", "c", 4)]


def _batch_file(path: Path, records: list[dict[str, Any]]) -> str:
    with gzip.open(path, "wt") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return path.as_uri()


def test_batch_messages_load_the_files(loader: Loader, tmp_path: Path) -> None:
    props = {"id": {"type": "integer"}, "name": {"type": "string"}}
    files = [
        _batch_file(tmp_path / "part-1.jsonl.gz", [{"id": i, "name": f"b{i}"} for i in range(1, 51)]),
        _batch_file(tmp_path / "part-2.jsonl.gz", [{"id": i, "name": f"b{i}"} for i in range(51, 101)]),
    ]
    batch = {
        "type": "BATCH",
        "stream": "items",
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "manifest": files,
    }
    # A RECORD of id 1 before the BATCH: the file's later version of id 1 wins.
    messages = [schema("items", props), record("items", id=1, name="old"), batch, state(items={"done": True})]
    result = loader.run(messages)
    assert result.returncode == 0, output(result)
    assert loader.ids("items") == list(range(1, 101))
    assert loader.rows("items", "id, name")[0] == (1, "b1")
    assert json.loads(result.stdout.splitlines()[-1]) == {"bookmarks": {"items": {"done": True}}}


def test_batch_files_from_a_taps_batch_config(loader: Loader, tmp_path: Path) -> None:
    """tap-crm with batch_config writes jsonl.gz files and BATCH messages; the loader loads them."""
    from api_sandbox import run_sandbox

    batches = tmp_path / "batches"
    with run_sandbox("crm", records=60, seed=2) as sb:
        config = tmp_path / "tap.json"
        config.write_text(
            json.dumps(
                {
                    "api_key": "sandbox-key",
                    "base_url": sb.base_url,
                    "batch_config": {
                        "encoding": {"format": "jsonl", "compression": "gzip"},
                        "storage": {"root": batches.as_uri()},
                        "batch_size": 25,
                    },
                }
            )
        )
        tap = subprocess.run(
            [str(BIN / "tap-crm"), "--config", str(config)], capture_output=True, text=True, timeout=120
        )
        assert tap.returncode == 0, tap.stderr[-3000:]
        truth = sb.truth()
    messages = tap.stdout.splitlines()
    assert any('"type":"BATCH"' in m.replace(" ", "") for m in messages), "the tap wrote no BATCH message"
    assert not any('"type":"RECORD"' in m.replace(" ", "") for m in messages)
    result = loader.run(messages)
    assert result.returncode == 0, output(result)
    for table, ids in truth.items():
        assert sorted(map(str, loader.ids(table))) == sorted(map(str, ids)), table


# -- bad input: one line naming stream and record, exit 1, nothing of the bad batch committed --------


def test_record_before_schema(loader: Loader) -> None:
    result = loader.run([record("items", id=5, name="x"), schema("items", PROPS)])
    line = only_error(result, loader)
    assert "stream 'items'" in line and "id=5" in line and "before any SCHEMA" in line, line


def test_record_violating_its_schema(loader: Loader) -> None:
    good = [schema("items", PROPS), *(item(i) for i in range(1, 6)), state(items={"offset": 5})]
    assert (r := loader.run(good)).returncode == 0, output(r)
    bad = [
        schema("items", PROPS),
        item(6),
        item(7, updated_at="yesterday"),
        item(8),
        state(items={"offset": 8}),
    ]
    result = loader.run(bad)
    line = only_error(result, loader)
    assert "stream 'items'" in line and "id=7" in line and "yesterday" in line, line
    assert loader.ids("items") == [1, 2, 3, 4, 5], "the bad batch must not be half committed"
    assert result.stdout == "", "no STATE may cover records that were not loaded"


def test_wrong_json_type_is_refused(loader: Loader) -> None:
    result = loader.run([schema("items", PROPS), item(1), item(2, amount="lots"), item(3, active="yes")])
    line = only_error(result, loader)
    assert "stream 'items'" in line and "id=2" in line and "'amount'" in line and "lots" in line, line


def test_integer_with_a_fraction_is_refused_not_rounded(loader: Loader) -> None:
    result = loader.run([schema("items", {"id": {"type": "integer"}, "qty": {"type": "integer"}}),
                         record("items", id=1, qty=1.5)])  # fmt: skip
    line = only_error(result, loader)
    assert "id=1" in line and "'qty'" in line and "1.5" in line, line


def test_missing_key_property(loader: Loader) -> None:
    result = loader.run([schema("items", PROPS), item(1), record("items", name="no key here")])
    line = only_error(result, loader)
    assert "stream 'items'" in line and "lacks key property 'id'" in line and "no key here" in line, line


def test_null_key_in_a_batch_file(loader: Loader, tmp_path: Path) -> None:
    url = _batch_file(tmp_path / "b.jsonl.gz", [{"id": 1}, {"id": None}])
    batch = {"type": "BATCH", "stream": "items", "encoding": {"format": "jsonl", "compression": "gzip"},
             "manifest": [url]}  # fmt: skip
    result = loader.run([schema("items", {"id": {"type": "integer"}}), batch])
    line = only_error(result, loader)
    assert "stream 'items'" in line and "no value for key property 'id'" in line, line


def test_not_json_and_not_a_message(loader: Loader) -> None:
    result = loader.run([schema("items", PROPS), "this is not json"])
    line = only_error(result, loader)
    assert "input line 2 is not JSON" in line, line


def test_number_beyond_the_column_is_refused_or_kept(loader: Loader) -> None:
    """DuckDB's DECIMAL(38,18) cannot hold 19 decimals: refused, never rounded. PostgreSQL's numeric can."""
    raw = '{"type":"RECORD","stream":"items","record":{"id":1,"amount":0.1234567890123456789}}'
    result = loader.run([schema("items", PROPS), raw])
    if loader.kind == "duckdb":
        line = only_error(result, loader)
        assert "id=1" in line and "0.1234567890123456789" in line and "without rounding" in line, line
    else:
        assert result.returncode == 0, output(result)
        assert loader.rows("items", "amount::text") == [("0.1234567890123456789",)]


def test_postgres_connection_lost_mid_load(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The server drops the loader's connection between two batches: one line, exit 1, the first batch
    stays, nothing of the second is committed."""
    import psycopg2

    dsn = request.getfixturevalue("pg_database")
    loader = Loader("postgres", tmp_path, dsn)
    proc = loader.start(batch_size_rows=5)
    assert proc.stdin is not None
    proc.stdin.write(lines([schema("items", PROPS), *(item(i) for i in range(1, 6))]))
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while True:  # the first batch of 5 is committed
        try:
            if loader.query('SELECT count(*) FROM "proof"."items"') == [(5,)]:
                break
        except psycopg2.Error:
            pass
        assert time.monotonic() < deadline, "the first batch never arrived"
        time.sleep(0.1)
    admin = psycopg2.connect(dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'target-postgres-bulk' AND datname = current_database()"
        )
        assert cur.fetchall(), "the loader's connection was not found"
    admin.close()
    out, err = proc.communicate(
        lines([*(item(i) for i in range(6, 11)), state(items={"offset": 10})]), timeout=60
    )
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    line = only_error(result, loader)
    assert "stream 'items'" in line and "id=6 .. id=10" in line and "nothing of it committed" in line, line
    assert "connection" in line, line
    assert loader.ids("items") == [1, 2, 3, 4, 5]
    assert out == ""


def test_postgres_without_password(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The test server trusts local connections: no password needed (MeltanoLabs' loader insists)."""
    loader = Loader("postgres", tmp_path, request.getfixturevalue("pg_database"))
    config = loader.config()
    del config["password"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = subprocess.run(
        [str(BIN / loader.name), "--config", str(tmp_path / "config.json")],
        input=lines([schema("items", PROPS), item(1)]), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, output(result)
    assert loader.ids("items") == [1]


def test_state_comes_out_only_after_its_rows_are_committed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Loads run in the background while messages are read; a STATE still waits for them. The moment the
    loader writes a STATE, another connection already sees every row the STATE covers."""
    import psycopg2.errors

    loader = Loader("postgres", tmp_path, request.getfixturevalue("pg_database"))
    proc = loader.start(batch_wait_limit_seconds=1)

    def seen() -> int:
        try:
            return int(loader.query('SELECT count(*) FROM "proof"."items"')[0][0])
        except psycopg2.errors.UndefinedTable:
            return 0  # not even the table yet

    first_state, seen_rows = first_state_after_a_wait(
        proc,
        lines([schema("items", PROPS), *(item(i) for i in range(1, 3001)), state(items={"offset": 3000})]),
        lines([item(3001)]),  # after batch_wait_limit_seconds: the next message drains every stream
        seen,
    )
    assert json.loads(first_state) == {"bookmarks": {"items": {"offset": 3000}}}
    assert seen_rows >= 3000, f"the STATE came out when only {seen_rows} of its 3000 rows were committed"
    assert proc.returncode == 0
