"""The loader probe (issue 24): hand-written Singer streams into both bulk loaders' executables, the
warehouse read back value by value, and the STATE each run emits.

The rule (the loaders' READMEs): each value is kept exactly as the tap sent it, or its batch is refused
with one line naming the stream, the record's key, the property and the value, exit 1, no traceback, and no
STATE past the refused batch. Numbers keep every digit wherever they sit; a date-time without a zone is
UTC; of a key repeated across records the last wins; a merge touches only its rows. Cases the other
loader tests do not cover: numbers at the edges (40 digits, -0, exponents, 1e400, 30 fractional digits),
strings (\\u0000, lone surrogates, 1 MB, text that looks like a date), date-times (offsets, -00:00, nine
fractional digits, leap seconds, years 1 and 9999, a date alone), keys (composite, null, "1" vs 1,
repeated within and across batches), schemas (anyOf, $ref, additionalProperties, ["null"] only, a
property dropped and back, a type widened mid-stream), odd stream names, STATE before any RECORD or not
an object, empty streams, 1,600 columns, and a kill -9 followed by a rerun.

Where a loader breaks the rule the test is a strict xfail naming what happens and what should.
"""

from __future__ import annotations

import decimal
import json
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from bulk import Loader, only_error, output, record, schema, state

KINDS = ["duckdb", "postgres"]
N = {"type": ["number", "null"]}
I = {"type": ["integer", "null"]}  # noqa: E741
S = {"type": ["string", "null"]}
B = {"type": ["boolean", "null"]}
DT = {"type": ["string", "null"], "format": "date-time"}
DATE = {"type": ["string", "null"], "format": "date"}
TIME = {"type": ["string", "null"], "format": "time"}
FORTY = "1234567890123456789012345678901234567890"
THIRTY = "0.100000000000000000000000000001"  # 30 fractional digits
MEGABYTE = "é" * 500_000 + "end"  # 1 MB of UTF-8


def make(kind: str, request: pytest.FixtureRequest, where: Path) -> Loader:
    where.mkdir(parents=True, exist_ok=True)
    return Loader(kind, where, request.getfixturevalue("pg_database") if kind == "postgres" else None)


@pytest.fixture(params=KINDS)
def loader(request: pytest.FixtureRequest, tmp_path: Path) -> Loader:
    return make(request.param, request, tmp_path)


def raw(stream: str, body: str) -> str:
    """A RECORD line with its record written by hand (numbers a Python float would round)."""
    return f'{{"type": "RECORD", "stream": {json.dumps(stream)}, "record": {body}}}'


def read(loader: Loader, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql`, date-times shown in UTC."""
    return loader.query(sql, utc=True)


def texts(loader: Loader, table: str, columns: list[str], order: str = '"id"') -> list[tuple[Any, ...]]:
    # (aliased: ordering by "id" must order the column, not its text)
    shown = ", ".join(f'CAST("{c}" AS VARCHAR) AS shown_{i}' for i, c in enumerate(columns))
    return read(loader, f'SELECT {shown} FROM "proof"."{table}" ORDER BY {order}')


def row_count(loader: Loader, table: str) -> int:
    found = read(
        loader,
        "SELECT count(*) FROM information_schema.tables "
        f"WHERE table_schema = 'proof' AND table_name = '{table}'",
    )
    if not found[0][0]:
        return 0
    return int(read(loader, f'SELECT count(*) FROM "proof"."{table}"')[0][0])


def exact(text: str) -> Any:
    """A JSON text read with every number exact (for comparing JSON whatever its spelling: 1E+2 is 100)."""
    return json.loads(text, parse_float=decimal.Decimal)


def xfail_on(kind: str, reason: str) -> dict[str, pytest.MarkDecorator]:
    return {kind: pytest.mark.xfail(strict=True, reason=reason)}


def kinds(**marks: pytest.MarkDecorator) -> list[Any]:
    return [pytest.param(k, marks=marks[k]) if k in marks else k for k in KINDS]


# -- values each loader keeps exactly (one record of one run per loader) --------------------------

KEPT: list[tuple[str, dict[str, Any], str, tuple[str, Any]]] = [
    ("n_neg_zero", N, "-0", ("number", "0")),
    ("n_exponent", N, "1E+2", ("number", "100")),
    ("n_beyond_64_bits", N, "18446744073709551616", ("number", "18446744073709551616")),
    ("n_smallest", N, "-0.000000000000000001", ("number", "-0.000000000000000001")),
    ("i_max", I, "9223372036854775807", ("text", "9223372036854775807")),
    ("i_min", I, "-9223372036854775808", ("text", "-9223372036854775808")),
    ("i_neg_zero", I, "-0", ("text", "0")),
    ("i_exponent", I, "1E+2", ("text", "100")),  # an exponent that leaves no fraction: the integer
    ("j_arrays_of_arrays", {"type": ["array", "null"]}, f"[[{FORTY}], [-{FORTY}]]", ("json", None)),
    (
        "j_any_of",
        {"anyOf": [{"type": "object", "properties": {"x": {"type": "number"}}}, {"type": "null"}]},
        f'{{"x": {FORTY}, "y": {THIRTY}, "z": [-0, 1E+2]}}',
        ("json", None),
    ),
    ("j_untyped", {}, '{"a": [1.10, -0, 1E+2, 1e-30, 0.1000000000000000055511151231257827]}', ("json", None)),
    ("j_ref", {"$ref": "#/definitions/n"}, "0.1000000000000000055511151231257827", ("json", None)),
    (
        "j_additional",
        {"type": ["object", "null"], "additionalProperties": {"type": "integer"}},
        '{"w": 12345678901234567890123, "k": -1}',
        ("json", None),
    ),
    ("j_one_of", {"oneOf": [{"type": "integer"}, {"type": "string"}]}, '"7"', ("json", None)),
    ("j_null_only", {"type": ["null"]}, "null", ("text", None)),
    ("s_like_a_date", S, '"2024-01-01T00:00:00"', ("text", "2024-01-01T00:00:00")),
    ("s_like_a_number", S, '"0012.50"', ("text", "0012.50")),
    ("s_astral", S, '"\\ud83d\\ude00"', ("text", "\U0001f600")),
    ("s_megabyte", S, json.dumps(MEGABYTE, ensure_ascii=False), ("text", MEGABYTE)),
    ("dt_kathmandu", DT, '"2024-01-01T00:00:00+05:45"', ("text", "2023-12-31 18:15:00+00")),
    ("dt_minus_zero", DT, '"2024-01-01T00:00:00-00:00"', ("text", "2024-01-01 00:00:00+00")),
    ("dt_z", DT, '"2024-01-01T12:00:00Z"', ("text", "2024-01-01 12:00:00+00")),
    ("dt_plus_zero", DT, '"2024-01-01T12:00:00+00:00"', ("text", "2024-01-01 12:00:00+00")),
    ("dt_zoneless", DT, '"2024-06-01T12:00:00"', ("text", "2024-06-01 12:00:00+00")),
    ("dt_micro", DT, '"2024-01-01T00:00:00.123456Z"', ("text", "2024-01-01 00:00:00.123456+00")),
    ("dt_zero_padded", DT, '"2024-01-01T00:00:00.123456000Z"', ("text", "2024-01-01 00:00:00.123456+00")),
    ("dt_year_1", DT, '"0001-01-01T00:00:00Z"', ("text", "0001-01-01 00:00:00+00")),
    ("dt_year_9999", DT, '"9999-12-31T23:59:59.999999Z"', ("text", "9999-12-31 23:59:59.999999+00")),
    ("dt_date_only", DT, '"2024-01-01"', ("text", "2024-01-01 00:00:00+00")),
    ("dt_lower_case", DT, '"2024-01-01t00:00:00z"', ("text", "2024-01-01 00:00:00+00")),  # RFC 3339
    ("d_leap_day", DATE, '"2024-02-29"', ("text", "2024-02-29")),
    ("t_micro", TIME, '"23:59:59.123456"', ("text", "23:59:59.123456")),
    ("t_utc", TIME, '"23:59:59Z"', ("text", "23:59:59")),
    ("b_false", B, "false", ("text", "false")),
]  # fmt: skip


def test_every_value_of_a_wide_record_is_kept_exactly(loader: Loader) -> None:
    props = {"id": {"type": "integer"}, **{name: prop for name, prop, _, _ in KEPT}}
    message = schema("kept", props)
    message["schema"]["definitions"] = {"n": {"type": "number"}}
    full = raw("kept", "{" + ", ".join(['"id": 1', *(f'"{n}": {v}' for n, _, v, _ in KEPT)]) + "}")
    empty = raw("kept", '{"id": 2, ' + ", ".join(f'"{n}": null' for n, *_ in KEPT) + "}")
    result = loader.run([message, full, empty, state(kept=2)])
    assert result.returncode == 0, output(result)
    assert result.stdout.splitlines() == [json.dumps({"bookmarks": {"kept": 2}})]
    names = [n for n, *_ in KEPT]
    first, second = texts(loader, "kept", names)
    wrong = []
    for (name, _, sent, (how, wanted)), got in zip(KEPT, first, strict=True):
        if how == "number":
            ok = got is not None and decimal.Decimal(got) == decimal.Decimal(wanted)
        elif how == "json":
            ok = got is not None and exact(got) == exact(sent)
        else:
            ok = got == wanted
        if not ok:
            wrong.append((name, sent[:60], (got or "")[:60] if isinstance(got, str) else got))
    assert wrong == [], wrong
    assert list(second) == [None] * len(KEPT), "null lands as NULL in every column"


# -- values one loader keeps and the other refuses, as its README says ----------------------------


def run_one(
    loader: Loader, prop: dict[str, Any], value: str, stream: str = "one"
) -> subprocess.CompletedProcess[str]:
    """A good record (id=1), a STATE, the record under test (id=7), a STATE: one batch."""
    props = {"id": {"type": "integer"}, "v": prop}
    messages: list[dict[str, Any] | str] = [
        schema(stream, props),
        raw(stream, '{"id": 1, "v": null}'),
        state(one=1),
    ]
    return loader.run([*messages, raw(stream, f'{{"id": 7, "v": {value}}}'), state(one=7)])


def refused(loader: Loader, result: subprocess.CompletedProcess[str], *named: str) -> str:
    """One line naming the stream, id=7, property 'v' and `named`; no STATE; nothing of the batch."""
    line = only_error(result, loader)
    for part in ("stream 'one'", "id=7", "'v'", *named):
        assert part in line, (part, line)
    assert result.stdout == "", "no STATE may cover the refused batch"
    assert row_count(loader, "one") == 0, "nothing of the refused batch is in the table"
    return line


def kept(loader: Loader, result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, output(result)
    assert result.stdout.splitlines()[-1] == json.dumps({"bookmarks": {"one": 7}})
    rows = texts(loader, "one", ["v"])
    assert rows[0] == (None,)
    return rows[1][0]


def test_a_forty_digit_number_is_kept_or_refused_never_rounded(loader: Loader) -> None:
    result = run_one(loader, N, FORTY)
    if loader.kind == "duckdb":  # DECIMAL(38,18): the README says it is refused
        refused(loader, result, FORTY)
    else:
        assert kept(loader, result) == FORTY


@pytest.mark.parametrize("kind", KINDS)
def test_thirty_fractional_digits_are_kept_or_refused_never_rounded(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    loader = make(kind, request, tmp_path)
    result = run_one(loader, N, THIRTY)
    if kind == "duckdb":
        refused(loader, result, THIRTY)
    else:
        assert kept(loader, result) == THIRTY


@pytest.mark.parametrize("kind", KINDS)
def test_1e400_is_kept_or_refused_naming_what_was_sent(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    loader = make(kind, request, tmp_path)
    result = run_one(loader, N, "1e400")
    if kind == "duckdb":
        refused(loader, result, "1e400")
    else:
        assert kept(loader, result) == "1" + "0" * 400


def test_a_nul_character_is_kept_or_refused_naming_the_property(loader: Loader) -> None:
    """PostgreSQL's text and jsonb cannot hold \\u0000 (its README says it is refused); DuckDB keeps it."""
    for prop, value, stored in (
        (S, '"a\\u0000b"', "a\x00b"),
        ({"type": "object"}, '{"k": ["x\\u0000"]}', None),
    ):
        result = run_one(loader, prop, value)
        if loader.kind == "postgres":
            line = refused(loader, result, "\\u0000")
            assert "\x00" not in line, "the line shows the escape, never the character itself"
        else:
            got = kept(loader, result)
            assert got == stored if stored else exact(got) == exact(value)
            loader.db_path.unlink()


# -- values both loaders must refuse: one line, no STATE, nothing committed -----------------------

REFUSED: list[tuple[str, dict[str, Any], str, str, dict[str, pytest.MarkDecorator]]] = [
    ("i_beyond_64_bits", I, "9223372036854775808", "9223372036854775808", {}),
    ("d_no_such_day", DATE, '"2023-02-29"', "2023-02-29", {}),
    ("dt_leap_second", DT, '"2016-12-31T23:59:60Z"', "23:59:60", {}),
    ("d_with_a_time", DATE, '"2024-01-01T10:00:00Z"', "T10:00:00Z", {}),
    ("dt_nine_digits", DT, '"2024-01-01T00:00:00.123456789Z"', "123456789", {}),
    ("t_nine_digits", TIME, '"23:59:59.123456789"', "123456789", {}),
    ("t_offset", TIME, '"23:59:59+02:00"', "+02:00", {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "kind"),
    [pytest.param(c[0], k, marks=c[4].get(k, ()), id=f"{c[0]}-{k}") for c in REFUSED for k in KINDS],
)
def test_a_value_its_column_cannot_hold_is_refused_with_one_line(
    case: str, kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    _, prop, value, shown, _ = next(c for c in REFUSED if c[0] == case)
    loader = make(kind, request, tmp_path)
    refused(loader, run_one(loader, prop, value), shown)


def test_names_longer_than_postgresql_keeps_are_refused_there_and_kept_in_duckdb(
    loader: Loader,
) -> None:
    """PostgreSQL keeps 63 bytes of a name (é is two): a 200-character stream or a 64-byte property is
    refused before anything is written; DuckDB keeps both whole."""
    for stream, prop in (("s" * 200, "v"), ("short", "é" * 32)):
        props = {"id": {"type": "integer"}, prop: S}
        result = loader.run([schema(stream, props), record(stream, id=1, **{prop: "x"}), state(n=1)])
        if loader.kind == "postgres":
            line = only_error(result, loader)
            assert "63 bytes" in line and (stream if prop == "v" else prop) in line, line
            assert result.stdout == ""
        else:
            assert result.returncode == 0, output(result)
            assert texts(loader, stream, [prop]) == [("x",)]


@pytest.mark.parametrize("kind", KINDS)
def test_a_null_part_of_a_composite_key_is_refused_naming_that_part(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    loader = make(kind, request, tmp_path)
    props = {"a": {"type": "integer"}, "b": S, "v": S}
    messages: list[dict[str, Any] | str] = [
        schema("cn", props, keys=["a", "b"]),
        raw("cn", '{"a": 1, "b": null, "v": "x"}'),
        state(cn=1),
    ]
    result = loader.run(messages)
    line = only_error(result, loader)
    assert "stream 'cn'" in line and "key property 'b'" in line, line
    assert result.stdout == ""


@pytest.mark.parametrize("kind", KINDS)
def test_a_lone_surrogate_is_refused_saying_what_is_wrong(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    loader = make(kind, request, tmp_path)
    result = run_one(loader, S, '"a\\ud800b"')
    line = only_error(result, loader)
    assert "line 4" in line and result.stdout == "", line
    assert "truncated" not in line, line
    assert "stream 'one'" in line and "id=7" in line and "property 'v'" in line and "surrogate" in line, line


# -- keys, merges, schemas and names: one run of many streams per loader --------------------------


def activate(stream: str, version: int) -> dict[str, Any]:
    return {"type": "ACTIVATE_VERSION", "stream": stream, "version": version}


STREAMS = [
    "Probe.Dots-And-Dashes",
    "ünï€ode ström",
    "comp",
    "mixed_key",
    "num_key",
    "drift",
    "widened",
    "empty",
]


def test_keys_merges_schema_changes_and_names_in_one_run(loader: Loader) -> None:
    odd, uni = STREAMS[0], STREAMS[1]
    plain = {"id": {"type": "integer"}, "v": S}
    messages: list[dict[str, Any] | str] = [
        state(before="any record"),  # a STATE before any RECORD
        schema(odd, plain),
        record(odd, id=1, v="a"),
        schema(uni, plain),
        record(uni, id=1, v="b"),
        # A composite key, repeated within a batch and across batches (batch_size_rows=2): the last wins.
        schema("comp", {"a": {"type": "integer"}, "b": {"type": "string"}, "v": S}, keys=["a", "b"]),
        activate("comp", 1),
        record("comp", a=1, b="x", v="first"),
        record("comp", a=1, b="y", v="other"),
        record("comp", a=1, b="x", v="second"),
        record("comp", a=2, b="x", v="two"),
        record("comp", a=1, b="x", v="last"),
        activate("comp", 2),
        # "1" and 1 are different JSON values, so different keys.
        schema("mixed_key", {"id": {"type": ["string", "integer"]}, "v": S}),
        raw("mixed_key", '{"id": "1", "v": "string"}'),
        raw("mixed_key", '{"id": 1, "v": "integer"}'),
        # Number keys are equal by value (1.0 is 1), date-time keys by instant: the last record wins.
        schema("num_key", {"id": {"type": "number"}, "at": DT, "v": S}, keys=["id", "at"]),
        raw("num_key", '{"id": 1.0, "at": "2024-01-01T00:00:00Z", "v": "a"}'),
        raw("num_key", '{"id": 1, "at": "2024-01-01T02:00:00+02:00", "v": "b"}'),
        raw("num_key", '{"id": 1.10, "at": "2024-01-01T00:00:00Z", "v": "c"}'),
        raw("num_key", '{"id": 1.1, "at": "2024-01-01T00:00:00-00:00", "v": "d"}'),
        # A property added, dropped, added back: the row the middle schema updates keeps its value.
        schema("drift", {"id": {"type": "integer"}, "a": S}),
        record("drift", id=1, a="x"),
        schema("drift", {"id": {"type": "integer"}}),
        record("drift", id=1),
        record("drift", id=2),
        schema("drift", {"id": {"type": "integer"}, "a": S}),
        record("drift", id=3, a="z"),
        # integer, then number, then string, mid-stream: every value kept as sent.
        schema("widened", {"id": {"type": "integer"}, "a": I}),
        raw("widened", '{"id": 1, "a": 12345678901234567}'),
        schema("widened", {"id": {"type": "integer"}, "a": N}),
        raw("widened", '{"id": 2, "a": 1.5}'),
        schema("widened", {"id": {"type": "integer"}, "a": S}),
        raw("widened", '{"id": 3, "a": "x"}'),
        schema("empty", plain),
        state(done=True),
        '{"type": "STATE", "value": "not an object"}',  # passed on as it came (Singer leaves it opaque)
    ]
    result = loader.run(messages, batch_size_rows=2)
    assert result.returncode == 0, output(result)
    sent = [json.dumps(m["value"]) for m in messages if isinstance(m, dict) and m["type"] == "STATE"]
    emitted = result.stdout.splitlines()
    assert emitted and emitted[-1] == '"not an object"', emitted
    assert all(json.loads(e) in [json.loads(s) for s in sent] + ["not an object"] for e in emitted), emitted
    assert texts(loader, odd, ["id", "v"]) == [("1", "a")]
    assert texts(loader, uni, ["id", "v"]) == [("1", "b")]
    assert texts(loader, "comp", ["a", "b", "v"], '"a", "b"') == [
        ("1", "x", "last"),
        ("1", "y", "other"),
        ("2", "x", "two"),
    ]
    keyed = {v: exact(i) for i, v in texts(loader, "mixed_key", ["id", "v"], '"v"')}
    assert keyed == {"integer": 1, "string": "1"} and isinstance(keyed["integer"], int), keyed
    by_value = [(decimal.Decimal(i), at, v) for i, at, v in texts(loader, "num_key", ["id", "at", "v"])]
    assert by_value == [
        (1, "2024-01-01 00:00:00+00", "b"),
        (decimal.Decimal("1.1"), "2024-01-01 00:00:00+00", "d"),
    ]
    assert texts(loader, "drift", ["id", "a"]) == [("1", "x"), ("2", None), ("3", "z")]
    assert texts(loader, "widened", ["id", "a"]) == [("1", "12345678901234567"), ("2", "1.5"), ("3", "x")]
    assert row_count(loader, "empty") == 0
    tables = read(loader, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'proof'")
    assert sorted(t for (t,) in tables) == sorted(STREAMS)


@pytest.mark.parametrize("kind", KINDS)
def test_a_type_change_before_any_record_is_taken(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    loader = make(kind, request, tmp_path)
    messages = [
        schema("zs", {"id": {"type": "integer"}, "v": S}),
        schema("zs", {"id": {"type": "integer"}, "v": I}),
        record("zs", id=1, v=5),
        state(zs=1),
    ]
    result = loader.run(messages)
    assert result.returncode == 0, output(result)
    assert texts(loader, "zs", ["id", "v"]) == [("1", "5")]


# -- 1,600 columns: PostgreSQL's limit -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_record_of_1600_columns_loads_and_1601_is_refused(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    loader = make(kind, request, tmp_path)
    props = {"id": {"type": "integer"}, **{f"c{i}": S for i in range(1599)}}
    values = {f"c{i}": "v" for i in range(1599)} | {"c0": "first", "c1598": "last"}  # (a row fits a page)
    body = json.dumps({"id": 1, **values})
    messages: list[dict[str, Any] | str] = [schema("wide", props), raw("wide", body), state(wide=1)]
    settings: dict[str, Any] = {}
    if kind == "duckdb":
        # DuckDB gives each column of a batch its own buffers: 1,600 columns need about 640 MB, more than
        # the default memory_limit (256MB). The line says so, names the width and the setting to raise.
        line = only_error(loader.run(messages), loader)
        assert "stream 'wide'" in line and "1600 columns" in line and "memory_limit" in line, line
        settings = {"memory_limit": "1GB"}
    result = loader.run(messages, **settings)
    assert result.returncode == 0, output(result)
    assert result.stdout.splitlines() == [json.dumps({"bookmarks": {"wide": 1}})]
    assert texts(loader, "wide", ["c0", "c1", "c1598"]) == [("first", "v", "last")]
    if kind == "postgres":
        props["c1599"] = S
        line = only_error(loader.run([schema("wide", props), raw("wide", body)]), loader)
        assert "stream 'wide'" in line and "1600 columns" in line, line


def test_postgres_a_row_too_big_is_not_called_a_lost_connection(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """1,599 bigint columns make a 12.8 kB row, more than a page: the server refuses it on a live
    connection, and the line says so (it said "the connection was lost")."""
    loader = make("postgres", request, tmp_path)
    props = {"id": {"type": "integer"}, **{f"c{i}": I for i in range(1599)}}
    body = json.dumps({"id": 1, **{f"c{i}": i for i in range(1599)}})
    result = loader.run([schema("wide", props), raw("wide", body), state(wide=1)])
    line = only_error(result, loader)
    assert "row is too big" in line and "id=1" in line and "nothing of it committed" in line, line
    assert "connection was lost" not in line, line
    assert result.stdout == ""


# -- kill -9 mid-load, then a rerun: every id once, STATE only for committed rows -----------------


def _read_state(proc: subprocess.Popen[str], seconds: float) -> str | None:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    return proc.stdout.readline() if ready else None


def test_kill_9_mid_load_then_rerun_loads_every_id_exactly_once(loader: Loader) -> None:
    props = {"id": {"type": "integer"}, "v": S}

    def records(first: int, last: int) -> list[dict[str, Any]]:
        return [record("k", id=i, v=f"v{i}") for i in range(first, last + 1)]

    proc = loader.start(batch_size_rows=500, batch_wait_limit_seconds=1)
    assert proc.stdin is not None
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in [schema("k", props), *records(1, 2000)]))
        proc.stdin.write(json.dumps(state(k=2000)) + "\n")
        proc.stdin.flush()
        time.sleep(1.5)  # past batch_wait_limit_seconds: the next message drains every stream
        proc.stdin.write(json.dumps(record("k", id=2001, v="v2001")) + "\n")
        proc.stdin.flush()
        line = _read_state(proc, 60)
        assert line, "a STATE comes out once its rows are committed"
        # More batches in flight, then kill -9 in the middle of them.
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in records(2002, 6000)))
        proc.stdin.flush()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    committed = json.loads(line)["bookmarks"]["k"]
    assert committed == 2000
    ids = [int(i) for (i,) in texts(loader, "k", ["id"])]
    assert set(range(1, committed + 1)) <= set(ids), "every row the emitted STATE covers is committed"
    # The rerun starts from the STATE (the tap resends from there, overlapping what was committed).
    result = loader.run(
        [schema("k", props), *records(committed - 100, 6000), state(k=6000)], batch_size_rows=1000
    )
    assert result.returncode == 0, output(result)
    assert result.stdout.splitlines() == [json.dumps({"bookmarks": {"k": 6000}})]
    ids = [int(i) for (i,) in texts(loader, "k", ["id"])]
    assert ids == list(range(1, 6001)), "every id once"
    assert texts(loader, "k", ["v"], '"id" DESC LIMIT 1') == [("v6000",)]
