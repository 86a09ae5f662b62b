"""5. The loaders alone, reading RECORD messages from a file: target-postgres-bulk against MeltanoLabs
target-postgres 0.8.1 (default settings), and the peak RSS of both bulk loaders at N and 10 N records.

The Singer file is synthetic (one stream, ids 1..N, a string, a number, a boolean, a date-time, an
object), written once per size; every run loads into a fresh database and its ids are checked.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import uuid
from pathlib import Path
from typing import Any

from bench.meltano_project import SYS_DIR
from bench.procs import REPO, ChildRun, run_child, venv_script
from bench.results import Delivery, Report, Row, log, mb
from bench.sizes import Sizes
from loaderkit.testing import schema, state

STREAM = "items"
SCHEMA = schema(
    STREAM,
    {
        "id": {"type": "integer"},
        "name": {"type": ["string", "null"]},
        "amount": {"type": ["number", "null"]},
        "active": {"type": ["boolean", "null"]},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
        "meta": {"type": ["object", "null"], "properties": {"source": {"type": "string"}}},
    },
)


def singer_file(path: Path, n: int) -> Path:
    """SCHEMA, n RECORDs, a STATE every 10,000 records and at the end."""
    if path.exists():
        return path
    with open(path, "w") as f:
        f.write(json.dumps(SCHEMA) + "\n")
        for i in range(1, n + 1):
            f.write(
                f'{{"type":"RECORD","stream":"{STREAM}","record":{{"id":{i},"name":"item {i}",'
                f'"amount":{i}.25,"active":{"true" if i % 2 else "false"},'
                f'"updated_at":"2024-05-{1 + i % 28:02d}T{i % 24:02d}:30:00+00:00",'
                f'"meta":{{"source":"bench"}}}}}}\n'
            )
            if i % 10_000 == 0 or i == n:
                f.write(json.dumps(state(**{STREAM: {"id": i}})) + "\n")
    return path


def _pg_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_pg", REPO / "tests" / "pg.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pg"] = module
    spec.loader.exec_module(module)
    return module


def _loader(name: str, config: dict[str, Any], singer: Path, tmp: Path) -> ChildRun:
    path = tmp / f"{name}-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(config))
    exe = venv_script(name) if name.endswith("-bulk") else str(_stock_postgres())
    with open(singer, "rb") as stdin:
        return run_child([exe, "--config", str(path)], stdin=stdin)  # the loader's own peak RSS


def _stock_postgres() -> Path:
    return SYS_DIR / "loaders" / "target-postgres" / "venv" / "bin" / "target-postgres"


def _pg_ids(dsn: str) -> list[int]:
    import psycopg2

    con = psycopg2.connect(dsn)
    try:
        with con.cursor() as cur:
            cur.execute(f'SELECT id FROM "bench"."{STREAM}"')
            return [r[0] for r in cur.fetchall()]
    finally:
        con.close()


def _duckdb_ids(path: Path) -> list[int]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r[0] for r in con.execute(f'SELECT id FROM "bench"."{STREAM}"').fetchall()]
    finally:
        con.close()


def bench_loaders(report: Report, sizes: Sizes, runs: int, tmp: Path) -> None:
    benchmark = "5. loaders alone: RECORD messages from a file (one stream, 6 properties)"
    log(benchmark)
    pg = _pg_module()
    server = None
    if pg.find_pg_bin() is not None:
        server = pg.LocalPostgres()
        server.start()
    try:

        def fresh_pg() -> tuple[str, dict[str, Any]]:
            assert server is not None
            name = f"bench_{uuid.uuid4().hex[:10]}"
            dsn = pg.create_database(server.dsn, name)
            return dsn, {
                "host": "127.0.0.1",
                "port": server.port,
                "user": pg.SUPERUSER,
                "password": pg.PASSWORD,
                "database": name,
                "default_target_schema": "bench",
            }

        def one(
            system: str, n: int, walls: list[float], rss: list[float], ds: list[Delivery], i: int
        ) -> None:
            singer = singer_file(tmp / f"loaders-{n}.singer", n)
            if system == "target-duckdb-bulk":
                db = tmp / f"loaders-{uuid.uuid4().hex[:8]}.duckdb"
                result = _loader(system, {"filepath": str(db), "default_target_schema": "bench"}, singer, tmp)
                result.check(system)
                ids = _duckdb_ids(db)
                db.unlink()
            else:
                assert server is not None
                dsn, config = fresh_pg()
                result = _loader(system, config, singer, tmp)
                result.check(system)
                ids = _pg_ids(dsn)
                pg.drop_database(server.dsn, config["database"])
            d = Delivery(benchmark, f"{system}, {n:,} records", f"run {i}", len(ids), n, ids_checked=True)
            d.ids_match = sorted(ids) == list(range(1, n + 1))
            ds.append(report.deliver(d))
            walls.append(result.wall)
            rss.append(result.max_rss_mb)
            label = f"{system}, {n:,} records"
            log(f"  {label:<44} run {i:<13} {result.wall:7.2f} s {result.max_rss_mb:6.0f} MB")

        def measure(system: str, n: int) -> tuple[float, float] | None:
            walls: list[float] = []
            rss: list[float] = []
            ds: list[Delivery] = []
            for i in range(1, runs + 1):
                one(system, n, walls, rss, ds, i)
            rate = n / statistics.median(walls)
            figure = f"{rate:,.0f} rows/s, peak RSS {mb(rss):.0f} MB"
            report.measured(benchmark, f"{system}, {n:,} records", ds, walls, figure)
            return rate, mb(rss)

        n_small, n_large = sizes.loader_small, sizes.loader_large
        peaks: dict[str, dict[int, float]] = {}
        for system in ("target-duckdb-bulk", "target-postgres-bulk"):
            if system == "target-postgres-bulk" and server is None:
                report.rows.append(Row(benchmark, system, "n/a", "n/a", "n/a (no PostgreSQL binaries)"))
                continue
            peaks[system] = {}
            for n in (n_small, n_large):
                measured = measure(system, n)
                assert measured is not None
                peaks[system][n] = measured[1]
        stock_rate = bulk_rate = None
        if server is not None and _stock_postgres().exists():
            stock = measure("target-postgres", n_small)
            bulk = next(
                (
                    float(r.figure.split()[0].replace(",", ""))
                    for r in report.rows
                    if r.system == f"target-postgres-bulk, {n_small:,} records"
                ),
                None,
            )
            stock_rate, bulk_rate = (stock[0] if stock else None), bulk
        else:
            report.rows.append(
                Row(
                    benchmark,
                    "target-postgres (MeltanoLabs 0.8.1)",
                    "n/a",
                    "n/a",
                    "n/a (no PostgreSQL, or the meltano plugin cache is not installed)",
                )
            )
        ratio = bulk_rate / stock_rate if bulk_rate and stock_rate else None
        report.ratio_target(
            benchmark, "target-postgres-bulk ÷ MeltanoLabs target-postgres", ratio, "≥ 5x", lambda r: r >= 5
        )
        for system, by_n in peaks.items():
            growth = by_n[n_large] / by_n[n_small]
            report.ratio_target(
                benchmark,
                f"{system}: RSS at {n_large:,} ÷ at {n_small:,}",
                growth,
                "≤ 1.2x",
                lambda g: g <= 1.2,
            )
            report.target(
                benchmark,
                f"{system}: RSS at {n_large:,}",
                by_n[n_large],
                f"{by_n[n_large]:.0f} MB",
                "< 300 MB",
                by_n[n_large] < 300,
            )
    finally:
        if server is not None:
            server.stop()
