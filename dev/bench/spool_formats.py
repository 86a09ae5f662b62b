"""Which spool format is faster for target-duckdb-bulk: JSON Lines or Parquet? (run by hand)

    uv run --with pyarrow python -m bench.spool_formats FILE.singer [STREAM]

Takes the records of one stream from a Singer file (a tap's output) and times, per format, the Python
side (what the loader does per record while it reads) and DuckDB's load of the file into typed columns:
JSON Lines written by msgspec and read with `read_csv` + `from_json` (what the loader does), against a
pyarrow table written as Parquet and read with `read_parquet`. pyarrow is not a dependency of the
project; this script is how the choice was made (see the README).
"""

from __future__ import annotations

import decimal
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import msgspec

_decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)
_encoder = msgspec.json.Encoder(decimal_format="number")
TYPES = {"integer": "BIGINT", "number": "DECIMAL(38,18)", "boolean": "BOOLEAN", "string": "VARCHAR"}


def _column_types(schema: dict[str, Any]) -> dict[str, str]:
    found = {}
    for name, prop in schema["properties"].items():
        declared = prop.get("type")
        kinds = [t for t in (declared if isinstance(declared, list) else [declared]) if t and t != "null"]
        kind = kinds[0] if len(kinds) == 1 else "object"
        if kind == "string" and prop.get("format") == "date-time":
            found[name] = "TIMESTAMPTZ"
        else:
            found[name] = TYPES.get(kind, "JSON")
    return found


def jsonl(records: list[dict[str, Any]], types: dict[str, str], path: Path) -> tuple[float, float]:
    started = time.perf_counter()
    buffer = bytearray()
    with open(path, "wb") as f:
        for record in records:
            _encoder.encode_into(record, buffer, -1)
            buffer += b"\n"
            if len(buffer) > 1 << 20:
                f.write(buffer)
                buffer.clear()
        f.write(buffer)
    written = time.perf_counter()
    structure = json.dumps(types).replace("'", "''")
    duckdb.connect().execute(
        f"CREATE TABLE t AS SELECT unnest(from_json(line, '{structure}')) FROM read_csv('{path}', "
        "columns={'line': 'VARCHAR'}, header=false, delim=chr(1), quote='', escape='', auto_detect=false)"
    )
    return written - started, time.perf_counter() - written


def parquet(records: list[dict[str, Any]], types: dict[str, str], path: Path) -> tuple[float, float]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    columns = {}
    for name, kind in types.items():
        values = [r.get(name) for r in records]
        if kind == "JSON":
            columns[name] = pa.array([None if v is None else _encoder.encode(v).decode() for v in values])
        elif kind.startswith("DECIMAL"):
            columns[name] = pa.array(
                [None if v is None else decimal.Decimal(v) for v in values], pa.decimal128(38, 18)
            )
        elif kind == "BIGINT":
            columns[name] = pa.array(values, pa.int64())
        elif kind == "BOOLEAN":
            columns[name] = pa.array(values, pa.bool_())
        else:
            columns[name] = pa.array(values, pa.string())
    pq.write_table(pa.table(columns), path, compression="none")
    written = time.perf_counter()
    select = ", ".join(f'CAST("{n}" AS {k}) AS "{n}"' for n, k in types.items())
    duckdb.connect().execute(f"CREATE TABLE t AS SELECT {select} FROM read_parquet('{path}')")
    return written - started, time.perf_counter() - written


def main(argv: list[str]) -> int:
    source, stream = Path(argv[0]), (argv[1] if len(argv) > 1 else None)
    records, schema = [], None
    with open(source, "rb") as f:
        for line in f:
            message = _decoder.decode(line)
            stream = stream or message.get("stream")
            if message.get("stream") != stream:
                continue
            if message["type"] == "SCHEMA":
                schema = message["schema"]
            elif message["type"] == "RECORD":
                records.append(message["record"])
    assert schema is not None, f"no SCHEMA for {stream}"
    types = _column_types(schema)
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (("jsonl", jsonl), ("parquet", parquet)):
            runs = [fn(records, types, Path(tmp) / f"spool.{name}") for _ in range(5)]
            python = statistics.median(r[0] for r in runs) * 1000
            load = statistics.median(r[1] for r in runs) * 1000
            print(f"{name:8} {len(records):,} records: Python {python:6.0f} ms, DuckDB load {load:6.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
