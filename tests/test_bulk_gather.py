"""Consecutive BATCH files of one stream are loaded together (loaderkit.sink, GATHER_FILES), on real DuckDB
and PostgreSQL, without giving up what each file's load promised:

- two files of a stream, each in its own BATCH message (as our taps send them), make one load; a third
  file starts the next;
- a record of the stream after a gathered file, or a file after spooled records, keeps the order: the
  later version of a key wins, whichever way it came;
- a gathered file is loaded when another stream starts, at the end, and before the STATE after it goes
  out: the moment a STATE appears, the rows it covers are committed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from bulk import Loader, first_state_after_a_wait, lines, output, record, schema, state

PROPS = {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}


@pytest.fixture(params=["duckdb", "postgres"])
def loader(request: pytest.FixtureRequest, tmp_path: Path) -> Loader:
    dsn = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    return Loader(request.param, tmp_path, dsn)


def batch_file(
    folder: Path, name: str, records: list[dict[str, Any]], stream: str = "items"
) -> dict[str, Any]:
    """A BATCH message of one uncompressed JSON Lines file, as the taps write them."""
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return {
        "type": "BATCH",
        "stream": stream,
        "encoding": {"format": "jsonl", "compression": "none"},
        "manifest": [path.as_uri()],
    }


def loads(stderr: str) -> list[int]:
    """Rows of each load the loader logged, in order."""
    return [int(n) for n in re.findall(r"loaded (\d+) rows into", stderr)]


def test_consecutive_files_of_a_stream_make_one_load(loader: Loader, tmp_path: Path) -> None:
    folder = tmp_path / "batches"
    files = [
        batch_file(folder, f"f{i}", [{"id": i * 10 + j, "name": "x"} for j in range(3)]) for i in range(3)
    ]
    messages: list[dict[str, Any]] = [schema("items", PROPS)]
    for i, message in enumerate(files):
        messages += [message, state(items=i)]
    result = loader.run(messages)
    assert result.returncode == 0, output(result)
    assert loads(result.stderr) == [6, 3], output(result)
    assert loader.ids("items") == [0, 1, 2, 10, 11, 12, 20, 21, 22]
    assert list(folder.iterdir()) == [], "a BATCH file stayed behind"
    assert json.loads(result.stdout.splitlines()[-1]) == {"bookmarks": {"items": 2}}


def test_order_holds_between_gathered_files_and_records(loader: Loader, tmp_path: Path) -> None:
    folder = tmp_path / "batches"
    messages = [
        schema("items", PROPS),
        batch_file(folder, "first", [{"id": 1, "name": "file"}, {"id": 2, "name": "file"}]),
        record("items", id=1, name="record after the file"),
        record("items", id=3, name="record"),
        batch_file(folder, "second", [{"id": 3, "name": "file after the record"}]),
        state(done=1),
    ]
    result = loader.run(messages)
    assert result.returncode == 0, output(result)
    assert loader.rows("items", '"id", "name"') == [
        (1, "record after the file"),
        (2, "file"),
        (3, "file after the record"),
    ]


def test_a_gathered_file_is_committed_before_the_state_after_it(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """One file, its STATE, and then nothing of that stream: the file waits for a second one, but when
    records have waited batch_wait_limit_seconds and another stream comes, it is loaded, and the STATE
    after it appears only once its rows can be read from another connection."""
    loader = Loader("postgres", tmp_path, request.getfixturevalue("pg_database"))
    proc = loader.start(batch_wait_limit_seconds=1)

    def seen() -> int:
        rows = loader.query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'items'")
        return loader.query('SELECT count(*) FROM "proof"."items"')[0][0] if rows[0][0] else 0

    first_state, seen_rows = first_state_after_a_wait(
        proc,
        lines(
            [
                schema("items", PROPS),
                batch_file(tmp_path / "b", "one", [{"id": 7}]),
                state(items={"offset": 1}),
            ]
        ),
        lines([schema("other", PROPS), record("other", id=1)]),
        seen,
    )
    assert json.loads(first_state) == {"bookmarks": {"items": {"offset": 1}}}
    assert seen_rows == 1, "the STATE after the BATCH file came out before the file's rows were committed"
    assert proc.returncode == 0
    assert loader.ids("items") == [7] and loader.ids("other") == [1]
