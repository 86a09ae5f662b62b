"""What a load leaves in memory: after each load the loader's resident memory is back near where it was
before it, so the peak of a long sync is that of one load, not one that ratchets up with the table.

Measured on this process's own resident set (/proc/self/status), around loads of 100,000 rows through
the warehouse itself: without the release after each load, each load left 50-70 MB more behind.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from loaderkit.warehouse import Batch, BatchFile, table_for
from target_duckdb_bulk.warehouse import DuckDBWarehouse

ROWS = 100_000
LOADS = 3
# What a load may leave behind, in MB (measured: 5-7 with the release after each load, 52-67 without).
LEFT_BEHIND_MB = 20
SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "amount": {"type": "number"},
        "updated_at": {"type": "string", "format": "date-time"},
        "meta": {"type": "object"},
    },
}


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status here")


def spool(path: Path, start: int, rows: int = ROWS) -> Path:
    with open(path, "w") as f:
        for i in range(start, start + rows):
            day = f"2024-05-{1 + i % 28:02d}"
            f.write(
                f'{{"id":{i},"name":"item {i} with some text","amount":{i}.25,'
                f'"updated_at":"{day}T10:30:00+00:00","meta":{{"source":"test","n":{i}}}}}\n'
            )
    return path


def test_each_load_gives_its_memory_back(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse({"filepath": str(tmp_path / "w.duckdb")}, logging.getLogger("test"))
    table = table_for("items", SCHEMA, ["id"], "main", "main")
    files = [spool(tmp_path / f"batch-{n}.jsonl", 1 + n * ROWS) for n in range(LOADS)]
    try:
        warehouse.prepare(table)
        # A first small load reads what DuckDB keeps for good once used (time zone data, ...).
        first = spool(tmp_path / "first.jsonl", 0, rows=1)
        warehouse.load(table, Batch([BatchFile(first)], what="first"))
        before = resident_mb()
        left = []
        for path in files:
            assert warehouse.load(table, Batch([BatchFile(path)], what=path.name)) == ROWS
            left.append(resident_mb() - before)
        assert max(left) < LEFT_BEHIND_MB, f"MB left behind after each load: {[round(x) for x in left]}"
        assert warehouse.con.execute("SELECT count(*) FROM main.items").fetchone() == (LOADS * ROWS + 1,)
    finally:
        warehouse.close()
