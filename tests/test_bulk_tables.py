"""Two streams never land in one table (issue 24 item 3), on real DuckDB and PostgreSQL.

Within a run the loader keeps a map of stream -> table, and refuses, naming both streams, a second stream
that the database would put in a table another stream already lands in: `main-t`/`public-t` and `t`
without `default_target_schema`; `Users` and `users` in DuckDB (which ignores the case of identifiers);
names equal in their first 63 bytes in PostgreSQL. Across runs, each table's comment records the stream
it is written from, and a later run refuses to load another stream into it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from bulk import BIN, Loader, lines, only_error, output, record, schema, state

PROPS = {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}
DEFAULT_SCHEMA = {"duckdb": "main", "postgres": "public"}
LONG = "a" * 63


def run(loader: Loader, messages: list[dict[str, Any]], **settings: Any) -> subprocess.CompletedProcess[str]:
    """The loader's CLI with `settings` over its connection settings alone (no default_target_schema
    unless given)."""
    config = {k: v for k, v in loader.config().items() if k != "default_target_schema"}
    path = loader.workdir / "config-tables.json"
    path.write_text(json.dumps({**config, **settings}))
    command = [str(BIN / loader.name), "--config", str(path)]
    return subprocess.run(command, input=lines(messages), capture_output=True, text=True, timeout=120)


def stream(name: str, *ids: int) -> list[dict[str, Any]]:
    return [schema(name, PROPS), *(record(name, id=i, name=f"{name} {i}") for i in ids)]


def loader_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Loader:
    return Loader(kind, tmp_path, request.getfixturevalue("pg_database") if kind == "postgres" else None)


# (database, first stream, second stream, settings): pairs the database would put in one table
SAME_TABLE = [
    ("duckdb", "main-t", "t", {}),
    ("duckdb", "Users", "users", {"default_target_schema": "proof"}),
    ("postgres", "public-t", "t", {}),
    ("postgres", LONG + "_first", LONG + "_second", {"default_target_schema": "proof"}),
]


@pytest.mark.parametrize(
    ("kind", "first", "second", "settings"),
    SAME_TABLE,
    ids=["duckdb-schema", "duckdb-case", "pg-schema", "pg-63"],
)
def test_two_streams_of_one_run_that_would_share_a_table_are_refused(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    kind: str,
    first: str,
    second: str,
    settings: dict[str, Any],
) -> None:
    loader = loader_for(kind, request, tmp_path)
    result = run(loader, [*stream(first, 1, 2), *stream(second, 3), state(done=1)], **settings)
    line = only_error(result, loader)
    assert f"streams {first!r} and {second!r} would both land in table" in line, line
    why = {"Users": "by case", LONG + "_first": "the first 63 bytes"}.get(first)
    assert (why in line) if why else ("(the database" not in line), line
    assert "STATE" not in result.stdout and '"done"' not in result.stdout, output(result)


# (database, the stream of run 1, the stream of run 2): one table, written from two stream names
ACROSS_RUNS = [("duckdb", "t", "main-t"), ("duckdb", "Users", "users"), ("postgres", "t", "public-t")]


@pytest.mark.parametrize(("kind", "first", "second"), ACROSS_RUNS, ids=["duckdb-schema", "duckdb-case", "pg"])
def test_a_table_an_earlier_run_wrote_from_another_stream_is_refused(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, first: str, second: str
) -> None:
    loader = loader_for(kind, request, tmp_path)
    one = run(loader, [*stream(first, 1, 2), state(done=1)])
    assert one.returncode == 0, output(one)
    table = f'"{DEFAULT_SCHEMA[kind]}"."{first.split("-")[-1]}"'
    two = run(loader, [*stream(second, 1, 9), state(done=2)])
    line = only_error(two, loader)
    assert f"stream {second!r}: table" in line and f"holds the records of stream {first!r}" in line, line
    # Nothing of run 2 reached the table: run 1's rows as they were.
    assert loader.query(f"SELECT id, name FROM {table} ORDER BY id") == [(1, f"{first} 1"), (2, f"{first} 2")]
    # The stream that wrote the table goes on loading into it.
    three = run(loader, [*stream(first, 3), state(done=3)])
    assert three.returncode == 0, output(three)
    assert [r[0] for r in loader.query(f"SELECT id FROM {table} ORDER BY id")] == [1, 2, 3]
