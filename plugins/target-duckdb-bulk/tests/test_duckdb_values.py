"""The value rule over real DuckDB, through the warehouse itself (in process, a few milliseconds a case):
numbers keep every digit wherever they sit, nothing is coerced, widening keeps each value's text, a key
repeated in a record keeps its last value, merges touch only the columns and rows they mean to.

The same rule through the loader's command line (exit codes, one error line, a full disk, odd names):
tests/test_loader_values.py.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from loaderkit import LoadError
from loaderkit.warehouse import Batch, BatchFile, table_for
from target_duckdb_bulk.warehouse import DuckDBWarehouse


class Db:
    """One DuckDB file; `load` runs one batch of hand-written JSON lines into stream `items`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dir = path.parent

    def load(
        self, props: dict[str, Any], lines: Iterable[str | dict[str, Any]], keys: Sequence[str] = ("id",)
    ) -> int:
        spool = self.dir / "batch.jsonl"
        spool.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
        warehouse = DuckDBWarehouse({"filepath": str(self.path)}, logging.getLogger("test"))
        try:
            table = table_for("items", {"properties": props}, keys, "proof", "main")
            warehouse.prepare(table)
            return warehouse.load(table, Batch([BatchFile(spool)], what="the batch"))
        finally:
            warehouse.close()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def text(self, column: str) -> list[Any]:
        """A column's values as text, in id order."""
        return [r[0] for r in self.query(f'SELECT "{column}"::VARCHAR FROM proof.items ORDER BY id')]


@pytest.fixture
def db(tmp_path: Path) -> Db:
    return Db(tmp_path / "w.duckdb")


ID = {"id": {"type": "integer"}}


# -- 1. numbers keep every digit wherever they sit -----------------------------------------------------


def test_nested_and_untyped_numbers_keep_every_digit_without_a_number_column(db: Db) -> None:
    props = {
        **ID,
        "lines": {"type": "array", "items": {"type": "object"}},
        "any": {},
        "meta": {"type": "object"},
    }
    db.load(
        props,
        [
            '{"id":1,"lines":[{"price":1234567890.123456789,"q":-3E5}],'
            '"any":0.1000000000000000055511151231257827,"meta":{"n":"text 1.5","x":[1.10,2e-30]}}',
            '{"id":2,"lines":[],"any":"plain","meta":{"s":"no digits"}}',
            '{"id":3,"lines":null,"any":{"deep":{"deeper":[99999999999999999999999.000000000000000000001]}}}',
        ],
    )
    assert db.text("lines") == ['[{"price":1234567890.123456789,"q":-3E5}]', "[]", None]
    assert db.text("any") == [
        "0.1000000000000000055511151231257827",
        '"plain"',
        '{"deep":{"deeper":[99999999999999999999999.000000000000000000001]}}',
    ]
    assert db.text("meta") == ['{"n":"text 1.5","x":[1.10,2e-30]}', '{"s":"no digits"}', None]
    # The stored JSON is JSON that DuckDB reads back.
    assert db.query("SELECT json_extract_string(meta, '$.n') FROM proof.items WHERE id = 1") == [
        ("text 1.5",)
    ]


# Each alone in its line, so no other number makes the line go the exact way: what DuckDB's JSON reader
# writes back for some of them is not the text sent (-0 as 0, 1E2 as 100.0, 1.10 as 1.1).
NUMBER_TEXTS = [
    "0", "-0", "-0.0", "0.0", "1.0", "1.10", "1E2", "1e2", "-3E-5", "100", "-5", "12345678901234567",
    "9223372036854775807", "-9223372036854775808", "-9223372036854775809", "18446744073709551616",
    "1e400", "0.1000000000000000055511151231257827", "123456789012345678901234567890",
]  # fmt: skip


def test_every_number_form_keeps_its_text_in_json_columns(db: Db) -> None:
    props = {**ID, "any": {}, "meta": {"type": "object"}, "list": {"type": "array"}}
    db.load(
        props,
        [
            f'{{"id":{i},"any":{n},"meta":{{"street":"Main 5","v":[{n}]}},"list":[1,{n},"x"]}}'
            for i, n in enumerate(NUMBER_TEXTS, start=1)
        ],
    )
    assert db.text("any") == NUMBER_TEXTS
    assert db.text("meta") == [f'{{"street":"Main 5","v":[{n}]}}' for n in NUMBER_TEXTS]
    assert db.text("list") == [f'[1,{n},"x"]' for n in NUMBER_TEXTS]


def test_a_line_that_holds_the_mark_is_still_exact(db: Db) -> None:
    """U+0001 is the mark of a number turned into a string; a line that holds it already goes through
    Python's reading instead, and the strings holding it come out as they were."""
    db.load(
        {**ID, "meta": {"type": "object"}},
        ['{"id":1,"meta":{"s":"\\u00015","n":0.1000000000000000055511151231257827}}'],
    )
    (meta,) = db.text("meta")
    assert json.loads(meta) == {"s": "\x015", "n": 0.1}
    assert "0.1000000000000000055511151231257827" in meta


# -- 2. no coercion -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ({"type": "boolean"}, '"yes"'),
        ({"type": "boolean"}, "1"),
        ({"type": "integer"}, '"5"'),
        ({"type": "number"}, '"12.5"'),
        ({"type": "string"}, "123"),
        ({"type": "string"}, '{"a":1}'),
        ({"type": "string", "format": "date-time"}, "20240101"),
        ({"type": "string", "format": "date"}, '["2024-01-01"]'),
    ],
)
def test_a_value_of_another_json_type_is_refused_not_coerced(
    db: Db, kind: dict[str, Any], value: str
) -> None:
    props = {
        **ID,
        "v": {"type": [kind["type"], "null"], **({"format": kind["format"]} if "format" in kind else {})},
    }
    good = '{"id":1,"v":null}'
    with pytest.raises(LoadError) as failure:
        db.load(props, [good, f'{{"id":7,"v":{value}}}'])
    message = str(failure.value)
    assert message.startswith("stream 'items': record id=7: property 'v' is "), message
    shown = json.dumps(json.loads(value))
    assert shown.replace(" ", "") in message.replace("'", '"').replace(" ", ""), message
    assert "\n" not in message
    assert db.query("SELECT count(*) FROM proof.items") == [(0,)], "nothing of the batch may be committed"


def test_values_of_their_own_type_are_kept(db: Db) -> None:
    props = {
        **ID,
        "b": {"type": "boolean"},
        "i": {"type": "integer"},
        "n": {"type": "number"},
        "s": {"type": "string"},
        "t": {"type": "string", "format": "date-time"},
    }
    db.load(props, ['{"id":1,"b":false,"i":-9007199254740993,"n":12.5,"s":"123","t":"2024-01-01T00:00:00"}'])
    assert db.query("SELECT b, i, n::VARCHAR, s, epoch(t) FROM proof.items") == [
        (False, -9007199254740993, "12.500000000000000000", "123", 1704067200.0)
    ], "a date-time without a zone is read as UTC"


# -- 3. widening keeps the text as sent ---------------------------------------------------------------


def test_widening_number_to_string_keeps_the_text(db: Db) -> None:
    db.load({**ID, "v": {"type": "integer"}}, ['{"id":1,"v":5}'])
    db.load({**ID, "v": {"type": "number"}}, ['{"id":2,"v":1.5}', '{"id":3,"v":-0.25}'])
    db.load({**ID, "v": {"type": "string"}}, ['{"id":4,"v":"four"}'])
    assert db.text("v") == ["5", "1.5", "-0.25", "four"]


@pytest.mark.parametrize(
    ("kind", "sent", "stored"),
    [
        ({"type": "integer"}, "5", "5"),
        ({"type": "number"}, "1.5", "1.5"),
        ({"type": "boolean"}, "true", "true"),
        ({"type": "string"}, '"a \\"b\\""', '"a \\"b\\""'),
    ],
)
def test_widening_anything_to_json_keeps_the_value(
    db: Db, kind: dict[str, Any], sent: str, stored: str
) -> None:
    db.load({**ID, "v": kind}, [f'{{"id":1,"v":{sent}}}'])
    db.load({**ID, "v": {"type": "object"}}, ['{"id":2,"v":{"x":0.1000000000000000055511151231257827}}'])
    assert db.text("v") == [stored, '{"x":0.1000000000000000055511151231257827}']
    assert db.query("SELECT data_type FROM information_schema.columns WHERE column_name = 'v'") == [("JSON",)]


# -- 4. a key repeated in one record: the last wins ----------------------------------------------------


def test_a_key_repeated_in_a_record_keeps_its_last_value(db: Db) -> None:
    props = {**ID, "name": {"type": "string"}, "n": {"type": "number"}, "meta": {"type": "object"}}
    db.load(
        props,
        [
            '{"id":1,"name":"first","n":1.5,"meta":{"a":1},"name":"last","n":2.123456789012345678,"meta":{"b":2}}',
            '{"id":2,"name":"only","n":3,"meta":null}',
        ],
    )
    assert db.query("SELECT name, n::VARCHAR, meta::VARCHAR FROM proof.items ORDER BY id") == [
        ("last", "2.123456789012345678", '{"b":2}'),
        ("only", "3.000000000000000000", None),
    ]


def test_a_key_repeated_in_a_record_with_fewer_keys_than_properties_keeps_its_last_value(db: Db) -> None:
    # Two keys in the line, four properties in the schema: the line has fewer keys than the schema has
    # properties, and still one of them twice.
    props = {**ID, "name": {"type": ["string", "null"]}, "n": {"type": ["integer", "null"]}, "x": {}}
    db.load(props, ['{"id":1,"n":1,"n":2}', '{"id":2,"name":"a","name":"b"}'])
    assert db.query("SELECT id, name, n FROM proof.items ORDER BY id") == [(1, None, 2), (2, "b", None)]


def test_a_refused_value_is_named_as_sent(db: Db) -> None:
    # DuckDB reads 1e400 as inf and 12345678901234567890123 as a double: the message shows what the tap sent.
    with pytest.raises(LoadError, match=r"record id=1: property 'n' is 1e400, which is not a valid number"):
        db.load({**ID, "n": {"type": ["number", "null"]}}, ['{"id":1,"n":1e400}'])


def test_a_repeated_key_whose_last_value_is_bad_is_refused(db: Db) -> None:
    with pytest.raises(LoadError, match="property 'v' is \"x\""):
        db.load({**ID, "v": {"type": "integer"}}, ['{"id":1,"v":1,"v":"x"}'])


# -- 5. merges touch only the rows and columns they mean to ---------------------------------------------


def test_a_change_of_key_properties_on_a_table_with_rows_is_refused(db: Db) -> None:
    props = {**ID, "region": {"type": "string"}}
    db.load(props, [{"id": i, "region": "eu"} for i in (1, 2, 3)])
    with pytest.raises(LoadError) as failure:
        db.load(props, [{"id": 9, "region": "eu"}], keys=["region"])
    assert str(failure.value) == (
        'stream \'items\': table "proof"."items" holds rows merged on (id) key properties, not on '
        "(region), so records cannot be merged on it: keep the key properties, or drop the table"
    )
    assert db.query("SELECT id FROM proof.items ORDER BY id") == [(1,), (2,), (3,)]


def test_a_key_change_on_an_empty_table_is_taken(db: Db) -> None:
    props = {**ID, "region": {"type": "string"}}
    db.load(props, [])
    db.load(props, [{"id": 1, "region": "eu"}, {"id": 2, "region": "eu"}], keys=["region"])
    assert db.query("SELECT id, region FROM proof.items") == [(2, "eu")]


def test_a_table_without_recorded_keys_is_merged_when_its_rows_hold_each_key_once(db: Db) -> None:
    con = duckdb.connect(str(db.path))
    con.execute("CREATE SCHEMA proof; CREATE TABLE proof.items (id BIGINT, region VARCHAR)")
    con.execute("INSERT INTO proof.items VALUES (1, 'eu'), (2, 'eu')")
    con.close()
    with pytest.raises(LoadError, match="holds rows merged without key properties, not on \\(region\\)"):
        db.load({**ID, "region": {"type": "string"}}, [{"id": 3, "region": "eu"}], keys=["region"])
    db.load({**ID, "region": {"type": "string"}}, [{"id": 2, "region": "us"}])
    assert db.query("SELECT id, region FROM proof.items ORDER BY id") == [(1, "eu"), (2, "us")]


def test_a_merge_keeps_columns_the_stream_no_longer_sends_and_columns_a_user_added(db: Db) -> None:
    props = {**ID, "name": {"type": "string"}, "old": {"type": "string"}}
    db.load(props, [{"id": 1, "name": "a", "old": "o1"}, {"id": 2, "name": "b", "old": "o2"}])
    con = duckdb.connect(str(db.path))
    con.execute("ALTER TABLE proof.items ADD COLUMN mine VARCHAR")
    con.execute("UPDATE proof.items SET mine = 'm' || id")
    con.close()
    db.load({**ID, "name": {"type": "string"}}, [{"id": 1, "name": "A"}, {"id": 3, "name": "c"}])
    assert db.query("SELECT id, name, old, mine FROM proof.items ORDER BY id") == [
        (1, "A", "o1", "m1"),
        (2, "b", "o2", "m2"),
        (3, "c", None, None),
    ]


# -- 6. a failure after the commit says the rows are committed, and they are -----------------------------

# Loads one batch with a connection whose CHECKPOINT fails as a full disk makes it fail (the disk cannot be
# made to fill between COMMIT and CHECKPOINT on purpose), prints the error, and dies without closing the
# file (closing would checkpoint): what the table holds is then what DuckDB replays from its log.
_CHECKPOINT_FAILS = """
import logging, os, sys
import duckdb
from loaderkit.warehouse import Batch, BatchFile, table_for
from target_duckdb_bulk.warehouse import DuckDBWarehouse

class FailingCheckpoint:
    def __init__(self, con):
        self._con = con
    def execute(self, sql, *args):
        if sql.strip().upper() == "CHECKPOINT":
            raise duckdb.IOException("Could not write file: No space left on device")
        return self._con.execute(sql, *args)
    def __getattr__(self, name):
        return getattr(self._con, name)

path, spool = sys.argv[1:]
warehouse = DuckDBWarehouse({"filepath": path}, logging.getLogger("test"))
table = table_for("items", {"properties": {"id": {"type": "integer"}}}, ["id"], "proof", "main")
warehouse.prepare(table)
warehouse.con.execute("CHECKPOINT")  # the table itself is in the file; the batch is not
warehouse._con = FailingCheckpoint(warehouse.con)
try:
    warehouse.load(table, Batch([BatchFile(spool)], what="the batch"))
except Exception as exc:
    print(type(exc).__name__, exc, flush=True)
os._exit(3)
"""


def test_a_checkpoint_that_fails_after_the_commit_says_the_rows_are_committed(db: Db) -> None:
    spool = db.dir / "batch.jsonl"
    spool.write_text("".join(json.dumps({"id": i}) + "\n" for i in range(1, 101)))
    done = subprocess.run(
        [sys.executable, "-c", _CHECKPOINT_FAILS, str(db.path), str(spool)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == (
        'CommittedLoadError stream \'items\': loading the batch into "proof"."items": the 100 rows are '
        "committed (in DuckDB's write-ahead log, replayed when the file is next opened), but writing them "
        "into the database file failed: Could not write file: No space left on device"
    ), done.stdout + done.stderr
    assert Path(f"{db.path}.wal").exists(), "the batch was meant to be only in the write-ahead log"
    assert db.query("SELECT count(*), min(id), max(id) FROM proof.items") == [(100, 1, 100)]
