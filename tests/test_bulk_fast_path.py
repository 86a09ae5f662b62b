"""The loaders' fast reading path (loaderkit.reader), on real DuckDB and PostgreSQL.

RECORD messages of a stream that needs nothing of singer-sdk's per-record path go to the spool file as
the bytes the tap sent; everything else goes through the SDK. Each test shows one side of that: which
records take which path, that both paths load the same rows, that input order holds across them, and
that odd bytes (a carriage return, invalid UTF-8, a line longer than a read, a key only in a nested
object) load or fail on one clear line as the SDK's path would.
"""

from __future__ import annotations

import decimal
import json
import re
import subprocess
from typing import Any

import pytest
from bulk import PLAIN_PROPS, Loader, lines, only_error, output, schema, state

Messages = list[dict[str, Any] | str]
PROPS = {
    **PLAIN_PROPS,
    "meta": {"type": ["object", "null"], "properties": {"id": {"type": "integer"}}},
    "tags": {"type": ["array", "null"]},
}
# Records as taps write them, odd ones included: escapes, non-ASCII text, many digits, nesting, nulls.
RAW_RECORDS = [
    '{"id":1,"name":"plain","amount":1.5,"active":true,"updated_at":"2024-01-02T03:04:05+00:00"}',
    '{"id":2,"name":"caf\\u00e9 \\ud83d\\ude00 \\"quoted\\" back\\\\slash","amount":1234567890.123456789}',
    '{"id":3,"name":"naïve 日本","meta":{"id":99,"deep":[1,{"x":null}]},"tags":["a","b"]}',
    '{ "id" : 4 , "name" : "spaced out" , "active" : false }',
    '{"id":5,"name":null,"amount":-0.000000000000000001,"updated_at":"2024-02-29T23:59:59.123456-05:00"}',
    '{"id":6,"amount":12345678901234567890,"meta":{"big":123456789012345678901234567890}}',
]


@pytest.fixture(params=["duckdb", "postgres"])
def loader(request: pytest.FixtureRequest, tmp_path: Any) -> Loader:
    dsn = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    return Loader(request.param, tmp_path, dsn)


def run_bytes(loader: Loader, data: bytes, **settings: Any) -> subprocess.CompletedProcess[str]:
    """The loader's CLI on input given as bytes (lines a str cannot hold: invalid UTF-8, lone CR)."""
    result = subprocess.run(loader.command(**settings), input=data, capture_output=True, timeout=120)
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode(errors="replace")
    )


def paths_taken(result: subprocess.CompletedProcess[str]) -> tuple[int, int]:
    """(records on the fast path, records through the SDK's record path), as the loader reports them."""
    found = re.search(
        r"(\d+) records spooled as the tap sent them \(the fast path\), (\d+) through", result.stderr
    )
    assert found, output(result)
    return int(found[1]), int(found[2])


def record_line(stream: str, raw_record: str) -> str:
    extracted = '"time_extracted":"2024-01-01T00:00:00Z"'
    return f'{{"type":"RECORD","stream":"{stream}","record":{raw_record},{extracted}}}'


ALL_COLUMNS = (
    "id, name, CAST(amount AS VARCHAR), active, updated_at, CAST(meta AS VARCHAR), CAST(tags AS VARCHAR)"
)


def test_plain_records_take_the_fast_path_and_load_as_the_sdk_path_loads_them(loader: Loader) -> None:
    """The same records through both paths give the same rows, value for value (validate_records sends
    every record through the SDK's record path)."""
    messages: Messages = [
        schema("items", PROPS),
        *(record_line("items", r) for r in RAW_RECORDS),
        state(done=1),
    ]
    fast = loader.run(messages)
    assert fast.returncode == 0, output(fast)
    assert paths_taken(fast) == (len(RAW_RECORDS), 0)
    fast_rows = loader.rows("items", ALL_COLUMNS)

    slow = loader.run(messages, default_target_schema="proof_sdk", validate_records=True)
    assert slow.returncode == 0, output(slow)
    assert paths_taken(slow) == (0, len(RAW_RECORDS))
    slow_rows = loader.query(f'SELECT {ALL_COLUMNS} FROM "proof_sdk"."items" ORDER BY "id"')

    def normal(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        # JSON columns compared as JSON (the SDK path re-encodes them without spaces), numbers as numbers
        return [
            (*r[:2], r[2] and decimal.Decimal(r[2]), *r[3:5], *(c and json.loads(c) for c in r[5:]))
            for r in rows
        ]

    assert normal(fast_rows) == normal(slow_rows)
    assert [r[0] for r in fast_rows] == [1, 2, 3, 4, 5, 6]
    assert fast_rows[1][1] == 'café 😀 "quoted" back\\slash' and fast_rows[2][1] == "naïve 日本"
    assert decimal.Decimal(fast_rows[1][2]) == decimal.Decimal("1234567890.123456789")
    assert json.loads(fast_rows[5][5]) == {"big": 123456789012345678901234567890}
    assert fast.stdout.strip() == json.dumps({"bookmarks": {"done": 1}})


@pytest.mark.parametrize(
    "settings",
    [
        {"validate_records": True},
        {"add_record_metadata": True},
        {"flattening_enabled": True, "flattening_max_depth": 1},
        {"stream_maps": {"items": {"name": "name.upper() if name else None"}}},
    ],
    ids=["validate_records", "add_record_metadata", "flattening", "stream_maps"],
)
def test_anything_the_sdk_record_path_does_sends_records_through_it(loader: Loader, settings: dict) -> None:
    messages: Messages = [schema("items", PROPS), *(record_line("items", r) for r in RAW_RECORDS[:3])]
    result = loader.run(messages, **settings)
    assert result.returncode == 0, output(result)
    assert paths_taken(result) == (0, 3)
    if "stream_maps" in settings:
        assert [r[0] for r in loader.rows("items", "name")] == [
            "PLAIN",
            'CAFÉ 😀 "QUOTED" BACK\\SLASH',
            "NAÏVE 日本",
        ]
    if "add_record_metadata" in settings:
        assert all(r[0] is not None for r in loader.rows("items", "_sdc_received_at"))
    if "flattening_enabled" in settings:
        assert loader.rows("items", "meta__id")[2] == (99,)


def test_input_order_holds_across_the_two_paths(loader: Loader) -> None:
    """A record whose key is written with an escape (its bytes lack `"id"`) takes the SDK's path; the
    records around it take the fast one. The last version of each key wins, so any reordering shows."""
    sdk = '{"\\u0069d":1,"name":"sdk path"}'
    messages: Messages = [
        schema("items", PROPS),
        record_line("items", '{"id":1,"name":"fast 1"}'),
        record_line("items", sdk),  # replaces fast 1
        record_line("items", '{"id":2,"name":"fast 2"}'),
        record_line("items", sdk.replace(":1,", ":2,")),  # replaces fast 2 ...
        record_line("items", '{"id":2,"name":"fast 2 again"}'),  # ... and is replaced
    ]
    result = loader.run(messages)
    assert result.returncode == 0, output(result)
    assert paths_taken(result) == (3, 2)
    assert loader.rows("items", "id, name") == [(1, "sdk path"), (2, "fast 2 again")]


def test_a_state_waits_for_the_records_before_it(loader: Loader) -> None:
    """Records spooled by the fast path are loaded before a STATE after them goes out, batch by batch."""
    messages: Messages = [schema("items", PROPS)]
    for i in range(1, 8):
        messages += [record_line("items", f'{{"id":{i}}}'), state(items={"id": i})]
    result = loader.run(messages, batch_size_rows=3, batch_wait_limit_seconds=1)
    assert result.returncode == 0, output(result)
    assert loader.ids("items") == list(range(1, 8))
    assert result.stderr.count("loaded 3 rows") == 2 and "loaded 1 rows" in result.stderr, output(result)
    assert json.loads(result.stdout.splitlines()[-1]) == {"bookmarks": {"items": {"id": 7}}}


def test_a_carriage_return_between_tokens_loads(loader: Loader) -> None:
    """JSON allows a CR as white space; the databases' line readers would split the record there."""
    data = lines([schema("items", PROPS)]) + record_line("items", '{"id":1,\r"name":"after a CR"\r}') + "\n"
    result = run_bytes(loader, data.encode())
    assert result.returncode == 0, output(result)
    assert paths_taken(result) == (1, 0)
    assert loader.rows("items", "id, name") == [(1, "after a CR")]


def test_invalid_utf8_fails_on_its_line(loader: Loader) -> None:
    head = (lines([schema("items", PROPS)]) + record_line("items", '{"id":1}') + "\n").encode()
    bad = record_line("items", '{"id":2,"name":"X"}').encode().replace(b"X", b"caf\xe9")
    result = run_bytes(loader, head + bad + b"\n" + record_line("items", '{"id":3}').encode() + b"\n")
    line = only_error(result, loader)
    assert "input line 3 is not JSON" in line and "UTF-8" in line, line
    assert result.stdout == ""


def test_a_record_longer_than_one_read_loads(loader: Loader) -> None:
    """A 3 MB record arrives in several reads of the input (the reader reads 1 MB at a time)."""
    long_name = "x" * (3 << 20)
    messages: Messages = [
        schema("items", PROPS),
        record_line("items", '{"id":1,"name":"short"}'),
        record_line("items", json.dumps({"id": 2, "name": long_name})),
        record_line("items", '{"id":3,"name":"after"}'),
    ]
    result = loader.run(messages)
    assert result.returncode == 0, output(result)
    assert paths_taken(result) == (3, 0)
    assert loader.rows("items", "id, length(name)") == [(1, 5), (2, 3 << 20), (3, 5)]


def test_a_key_only_in_a_nested_object_is_refused_with_the_record(loader: Loader) -> None:
    """Its bytes hold `"id"`, so the fast path takes it; the database's set-wise check refuses it."""
    messages: Messages = [
        schema("items", PROPS),
        record_line("items", '{"name":"no top id","meta":{"id":5}}'),
    ]
    line = only_error(loader.run(messages), loader)
    assert "stream 'items'" in line and "no value for key property 'id'" in line and "no top id" in line, line


def test_a_missing_key_fails_naming_its_line(loader: Loader) -> None:
    messages: Messages = [
        schema("items", PROPS),
        record_line("items", '{"id":1}'),
        record_line("items", '{"name":"k"}'),
    ]
    line = only_error(loader.run(messages), loader)
    assert "stream 'items': line 3: record" in line and "lacks key property 'id'" in line, line


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ('{"type":"RECORD","stream":"items","record":null}', "the record is null, not a JSON object"),
        ('{"type":"RECORD","stream":"items","record":[1,2]}', "the record is an array, not a JSON object"),
        ('{"type":"RECORD","stream":"items"}', "input line 2: Line is missing required record key(s)"),
        ('{"type":"RECORD","stream":"items","record":{"id":1}} {"x":1}', "input line 2 is not JSON"),
    ],
    ids=["null", "array", "no-record", "two-values"],
)
def test_a_record_message_without_a_record_object_fails_on_one_line(
    loader: Loader, raw: str, said: str
) -> None:
    result = loader.run([schema("items", PROPS), raw, record_line("items", '{"id":9}'), state(done=1)])
    assert said in only_error(result, loader), output(result)
    assert result.stdout == ""
