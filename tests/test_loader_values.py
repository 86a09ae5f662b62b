"""target-duckdb-bulk's command line on values it must keep or refuse exactly (issue 24): a coerced value
ends the run with one line, a full disk for the DuckDB file says truly what is in the table, names with
quotes, backslashes, dollar quotes and semicolons load. The value rule case by case, in process:
plugins/target-duckdb-bulk/tests/test_duckdb_values.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from bulk import Loader, only_error, output, record, schema, state

PROPS = {
    "id": {"type": "integer"},
    "active": {"type": ["boolean", "null"]},
    "note": {"type": ["string", "null"]},
}


@pytest.fixture
def loader(tmp_path: Path) -> Loader:
    return Loader("duckdb", tmp_path)


def test_a_coerced_value_ends_the_run_with_one_line_and_nothing_committed(loader: Loader) -> None:
    messages = [
        schema("items", PROPS),
        record("items", id=1, active=True),
        record("items", id=7, active="yes"),
    ]
    result = loader.run([*messages, state(items={"id": 7})])
    line = only_error(result, loader)
    assert line.endswith(
        "target-duckdb-bulk: stream 'items': record id=7: property 'active' is \"yes\", which is not a valid "
        "boolean (BOOLEAN)"
    ), line
    assert result.stdout == "", "no STATE may cover the refused batch"
    assert loader.rows("items") == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs for the DuckDB file (skipped where mounting is not permitted)."""
    where = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(where)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_says_truly_what_is_in_the_table(
    loader: Loader, small_disk: Path, tmp_path: Path
) -> None:
    loader.db_path = small_disk / "warehouse.duckdb"
    note = "x" * 400
    records = [record("items", id=i, active=True, note=f"{note}{i}") for i in range(1, 40_001)]
    result = loader.run(
        [schema("items", PROPS), *records, state(items={"id": 40_000})], batch_size_rows=2_000
    )
    line = only_error(result, loader)
    assert "No space left on device" in line, line
    found = re.search(r"(\d+) records \(id=(\d+) \.\. id=(\d+)\)", line)
    assert found, line
    first, last = int(found[2]), int(found[3])
    ids = _ids_after_the_disk_filled(small_disk, tmp_path)
    batch = set(range(first, last + 1))
    if "nothing of it committed" in line:
        assert not ids & batch, f"the message says nothing committed, yet the table holds them: {line}"
    else:
        assert "are committed" in line, line
        assert batch <= ids, f"the message says committed, yet the table lacks them: {line}"
    assert ids == set(range(1, max(ids) + 1)), "every batch before the failed one is whole"


def test_a_full_disk_leaves_out_no_state_of_a_committed_batch(
    loader: Loader, small_disk: Path, tmp_path: Path
) -> None:
    """Every batch committed before the disk filled has its STATE out when the run ends (the SDK would
    write STATE only at the end), and no STATE covers a record that is not in the table."""
    loader.db_path = small_disk / "warehouse.duckdb"
    note = "x" * 400
    messages: list[dict | str] = [schema("items", PROPS)]
    for i in range(1, 40_001):
        messages.append(record("items", id=i, active=True, note=f"{note}{i}"))
        if i % 100 == 0:
            messages.append(state(items={"id": i}))
    result = loader.run(messages, batch_size_rows=2_000)
    line = only_error(result, loader)
    assert "No space left on device" in line, line
    ids = _ids_after_the_disk_filled(small_disk, tmp_path)
    assert len(ids) >= 2_000, f"no batch committed before the disk filled: {line}"
    states = [json.loads(s)["bookmarks"]["items"]["id"] for s in result.stdout.splitlines()]
    assert states, f"{len(ids)} rows committed, no STATE: {output(result)}"
    # The STATE owed for the last committed batch (rows 1 .. max) is the last one read before its last
    # record: at most 100 records before it, never past it.
    assert max(ids) - 100 <= states[-1] <= max(ids), (states[-3:], max(ids), line)
    assert states == sorted(states)


ODD = ['q"uote', "apo'strophe", "back\\slash", "$f$dollar$f$", "semi;colon"]


def test_names_with_quotes_backslashes_dollars_and_semicolons_load(loader: Loader) -> None:
    stream = "s" + "".join(ODD)
    target_schema = "sch" + "".join(reversed(ODD))
    key, number, nested = ODD[0], ODD[3], ODD[4]
    props = {
        key: {"type": "integer"},
        ODD[1]: {"type": ["string", "null"]},
        ODD[2]: {"type": ["boolean", "null"]},
        number: {"type": ["number", "null"]},
        nested: {"type": ["object", "null"]},
    }

    def row(i: int, text: str, amount: str = "1.25") -> str:
        """A RECORD line; the numbers written by hand (a Python float would round the nested one)."""
        values = json.dumps({key: i, ODD[1]: text, ODD[2]: True})[:-1]
        deep = f'{{"a\'b":[{i},0.1000000000000000055]}}'
        values += f", {json.dumps(number)}: {amount}, {json.dumps(nested)}: {deep}}}"
        return json.dumps({"type": "RECORD", "stream": stream, "record": {}}).replace("{}", values)

    first: list[dict | str] = [schema(stream, props, keys=[key]), row(1, "one"), row(2, "two")]
    assert (r := loader.run(first, default_target_schema=target_schema)).returncode == 0, output(r)
    # The second run merges on the odd key and widens the odd number column to string.
    props[number] = {"type": ["string", "null"]}
    second: list[dict | str] = [
        schema(stream, props, keys=[key]),
        row(2, "TWO", '"2.5"'),
        row(3, "three", '"3"'),
    ]
    assert (r := loader.run(second, default_target_schema=target_schema)).returncode == 0, output(r)

    def q(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    columns = ", ".join(f"{q(n)}::VARCHAR" for n in props)
    rows = loader.query(f"SELECT {columns} FROM {q(target_schema)}.{q(stream)} ORDER BY 1")
    assert rows == [
        ("1", "one", "true", "1.25", '{"a\'b":[1,0.1000000000000000055]}'),
        ("2", "TWO", "true", "2.5", '{"a\'b":[2,0.1000000000000000055]}'),
        ("3", "three", "true", "3", '{"a\'b":[3,0.1000000000000000055]}'),
    ]


def test_a_date_time_without_a_zone_is_utc_whatever_the_machines_zone(
    loader: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # DuckDB's session zone follows it unless the loader sets UTC
    props = {"id": {"type": "integer"}, "seen": {"type": "string", "format": "date-time"}}
    result = loader.run([schema("items", props), record("items", id=1, seen="2024-01-01T00:00:00")])
    assert result.returncode == 0, output(result)
    assert loader.rows("items", "epoch(seen)") == [(1704067200.0,)]


def _ids_after_the_disk_filled(small_disk: Path, tmp_path: Path) -> set[int]:
    """The ids in the table, read from a copy of the file (and its write-ahead log) where there is room,
    as the next run would read them."""
    copy = tmp_path / "after"
    copy.mkdir()
    for path in small_disk.iterdir():
        shutil.copy(path, copy / path.name)
    con = duckdb.connect(str(copy / "warehouse.duckdb"))
    try:
        return {r[0] for r in con.execute('SELECT id FROM "proof"."items"').fetchall()}
    finally:
        con.close()
