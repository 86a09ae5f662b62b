"""4. End to end into DuckDB: the whole projects API through ``meltano run tap-projects
target-duckdb-bulk``, the stock ``target-duckdb`` and ``python -m dlt_sources projects``, against the tap
alone to /dev/null, every load checked id by id; and the fixed cost of each way over 1 record a resource.

Meltano runs in a throwaway project (dev/bench/meltano_project.py, shared with tests/conftest.py: the same
plugin cache, install key and lock), so the bench and ``make test`` install plugins once between them.
``meltano install`` happens outside the timing, and only when that cache is stale.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from api_sandbox.launcher import SandboxProcess
from bench import meltano_project
from bench.meltano_project import MeltanoProject
from bench.procs import API_KEY, REPO, ChildRun, child_env, run_child, singer_record_ids, venv_script
from bench.results import Delivery, Report, Row, log
from bench.sizes import Sizes
from bench.systems import write_config

RESOURCES = ("jobs", "contacts", "tasks", "activities", "files")
# The targets for `meltano run` with the project's default hand-over (BATCH files into the bulk
# loaders): at 1,000,000 rows and more, and at 100,000.
LARGE = 1_000_000
PEAK_RSS_MB = 300


def _load_delivery(
    report: Report, benchmark: str, system: str, run: str, truth: dict[str, list], loaded: dict[str, list]
) -> Delivery:
    got = sum(len(v) for v in loaded.values())
    total = sum(len(v) for v in truth.values())
    wrong = [t for t in truth if sorted(map(str, loaded.get(t, []))) != sorted(map(str, truth[t]))]
    note = (
        "(tables differing from the truth: "
        + ", ".join(f"{t} {len(loaded.get(t, []))}/{len(truth[t])}" for t in wrong)
        + ")"
        if wrong
        else ""
    )
    d = Delivery(benchmark, system, run, got, total, ids_checked=True, ids_match=not wrong, note=note)
    return report.deliver(d)


def bench_e2e(report: Report, sizes: Sizes, runs: int, tmp: Path, small: bool) -> None:
    n = sizes.e2e
    benchmark = f"4. end to end into DuckDB: whole projects API, {n:,} records x {len(RESOURCES)} resources"
    log(benchmark)
    tap_name = "tap-projects alone, output to /dev/null"
    bulk_name = "meltano run tap-projects target-duckdb-bulk"
    meltano_name = "meltano run tap-projects target-duckdb"
    pg_name = "meltano run tap-projects target-postgres-bulk"
    # The same pipeline with the tap's RECORD lines relayed by Meltano (batch_auto false): what BATCH saves.
    lines_name = "meltano run tap-projects target-duckdb-bulk, RECORD lines (batch_auto false)"
    dlt_name = "python -m dlt_sources projects"
    names = (tap_name, bulk_name, lines_name, meltano_name, pg_name, dlt_name)
    peaks: dict[str, list[tuple[float, float]]] = {bulk_name: [], pg_name: []}  # (tap, loader) MB
    with SandboxProcess("projects", records=n) as sb, postgres_server(small) as pg_dsn:
        truth = {k: v for k, v in sb.truth().items() if k in RESOURCES}
        total = sum(len(v) for v in truth.values())
        project: MeltanoProject | None = meltano_project.create(tmp / "meltano-project", base_env=child_env())
        why_not = ""
        try:
            assert project is not None
            if not project.installed():
                if small:
                    why_not = (
                        f"plugins not installed in {meltano_project.SYS_DIR} "
                        "(make test or a full bench installs them)"
                    )
                    project = None
                else:
                    log(f"  meltano install into {meltano_project.SYS_DIR} (once, not timed) ...")
                    project.install()
        except Exception as exc:
            last = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
            why_not = f"meltano install failed: {last[0][:200]}"
            project = None
        results: dict[str, tuple[list[float], list[Delivery]]] = {name: ([], []) for name in names}

        def record(name: str, i: int, result: ChildRun, db: Path, schema: str) -> None:
            """Check one end-to-end load against the truth, keep its time, log it."""
            result.check(name)
            loaded = loaded_ids(db, schema, list(truth))
            results[name][0].append(result.wall)
            results[name][1].append(_load_delivery(report, benchmark, name, f"run {i}", truth, loaded))
            log(f"  {name:<44} run {i:<13} {result.wall:7.2f} s {sum(map(len, loaded.values())):>12,} rows")

        cfg = write_config(tmp, "e2e-tap", base_url=sb.base_url)
        tap_argv = [venv_script("tap-projects"), "--config", str(cfg)]
        # The catalog Meltano is given (discovered once, untimed; see run_meltano).
        catalog = tmp / "e2e-catalog.json"
        run_child([*tap_argv, "--discover"], stdout=catalog).check("tap-projects --discover")
        for i in range(1, runs + 1):
            # The tap alone, as the reference rate (its delivery checked on the first run's output).
            out = tmp / "e2e-tap.out" if i == 1 else None
            tap_run = run_child(tap_argv, stdout=out or os.devnull)
            tap_run.check(tap_name)
            if out is not None:
                got = {r: singer_record_ids(out, r) for r in truth}
                out.unlink()
                results[tap_name][1].append(_load_delivery(report, benchmark, tap_name, "run 1", truth, got))
            results[tap_name][0].append(tap_run.wall)
            log(f"  {tap_name:<44} run {i:<13} {tap_run.wall:7.2f} s")
            for loader, name in (
                ("target-duckdb-bulk", bulk_name),
                ("target-duckdb-bulk", lines_name),
                ("target-duckdb", meltano_name),
                ("target-postgres-bulk", pg_name),
            ):
                if project is None or (loader == "target-postgres-bulk" and pg_dsn is None):
                    continue
                try:
                    workdir = tmp / f"e2e-{loader}-{i}{'-lines' if name == lines_name else ''}"
                    if loader == "target-postgres-bulk":
                        assert pg_dsn is not None
                        with fresh_database(pg_dsn, f"bench_e2e_{os.getpid()}_{i}") as dsn:
                            with PeakWatch(project.sys_dir) as watch:
                                result, _ = run_meltano(
                                    project, sb.base_url, workdir, loader, catalog, extra=pg_env(dsn)
                                )
                            result.check(name)
                            loaded = postgres_loaded_ids(dsn, "tap_projects", list(truth))
                        results[name][0].append(result.wall)
                        results[name][1].append(
                            _load_delivery(report, benchmark, name, f"run {i}", truth, loaded)
                        )
                        rows = sum(map(len, loaded.values()))
                        log(f"  {name:<44} run {i:<13} {result.wall:7.2f} s {rows:>12,} rows")
                    else:
                        no_batch = {"TAP_PROJECTS_BATCH_AUTO": "false"} if name == lines_name else None
                        with PeakWatch(project.sys_dir) as watch:
                            result, db = run_meltano(
                                project, sb.base_url, workdir, loader, catalog, extra=no_batch
                            )
                        record(name, i, result, db, "tap_projects")
                    if name in peaks:
                        peaks[name].append((watch.peak("tap-projects"), watch.peak(loader)))
                except Exception as exc:
                    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
                    why_not = f"meltano run failed: {lines[-1][:200] if lines else type(exc).__name__}"
                    log(f"  {why_not}\n{str(exc)[-3000:]}")
                    project = None
            if total < LARGE:  # dlt takes ~12 min at 1,000,000 rows here: its row is the 100,000 one
                result, db = run_dlt(sb.base_url, tmp / f"e2e-dlt-{i}")
                record(dlt_name, i, result, db, "projects")
    # The fixed cost of each way of running, whatever the data: the same runs over 1 record a resource.
    fixed: dict[str, float] = {}
    with SandboxProcess("projects", records=1) as tiny:
        cfg = write_config(tmp, "e2e-tiny", base_url=tiny.base_url)
        walls = [run_child([venv_script("tap-projects"), "--config", str(cfg)]).wall for _ in range(runs)]
        fixed[tap_name] = statistics.median(walls)
        if project is not None:
            walls = []
            for i in range(runs):
                result, _db = run_meltano(
                    project, tiny.base_url, tmp / f"e2e-tiny-{i}", "target-duckdb-bulk", catalog
                )
                result.check(f"{bulk_name}, 1 record a resource")
                walls.append(result.wall)
            fixed[bulk_name] = statistics.median(walls)
    for name, seconds in fixed.items():
        report.rows.append(
            Row(benchmark, f"{name}: the same over 1 record a resource", figure=f"{seconds:.2f} s")
        )
    rate: dict[str, float] = {}
    for name, (walls, deliveries) in results.items():
        if not walls:
            why = why_not if name != dlt_name or total < LARGE else "not run at 1,000,000 rows and more"
            report.rows.append(Row(benchmark, name, "n/a", "n/a", f"n/a ({why})"))
            continue
        rate[name] = total / statistics.median(walls)
        report.measured(benchmark, name, deliveries, walls, f"{rate[name]:,.0f} rows/s")
    if meltano_name in rate and dlt_name in rate:
        ratio = rate[meltano_name] / rate[dlt_name]
        report.rows.append(Row(benchmark, "(dlt ÷ meltano wall time)", figure=f"{ratio:.2f}x"))
    large = total >= LARGE
    to_tap = rate[bulk_name] / rate[tap_name] if bulk_name in rate else None
    to_stock = rate[bulk_name] / rate[meltano_name] if bulk_name in rate and meltano_name in rate else None
    pg_to_tap = rate[pg_name] / rate[tap_name] if pg_name in rate else None
    goal = 0.85 if large else 0.6
    report.ratio_target(
        benchmark,
        "meltano run with target-duckdb-bulk ÷ the tap alone",
        to_tap,
        f"≥ {goal}x",
        lambda r: r >= goal,
    )
    if bulk_name in fixed and results[bulk_name][0] and results[tap_name][0]:
        # What is left once each side's fixed cost (Meltano's start-up, discovery of the run and
        # shut-down; the tap's own start) is taken off: how well the pipeline keeps pace with the tap.
        pace = (statistics.median(results[tap_name][0]) - fixed[tap_name]) / max(
            statistics.median(results[bulk_name][0]) - fixed[bulk_name], 1e-9
        )
        report.rows.append(
            Row(
                benchmark,
                "meltano run with target-duckdb-bulk ÷ the tap alone, each less its fixed cost",
                figure=f"{pace:.2f}x",
            )
        )
    if bulk_name in rate and lines_name in rate:
        report.rows.append(
            Row(
                benchmark,
                "BATCH files ÷ RECORD lines into target-duckdb-bulk",
                figure=f"{rate[bulk_name] / rate[lines_name]:.2f}x",
            )
        )
    stock_goal = 8 if large else 5
    report.ratio_target(
        benchmark,
        "target-duckdb-bulk ÷ target-duckdb 0.8 (meltano run)",
        to_stock,
        f"≥ {stock_goal}x",
        lambda r: r >= stock_goal,
    )
    if large:
        report.ratio_target(
            benchmark,
            "meltano run with target-postgres-bulk ÷ the tap alone",
            pg_to_tap,
            "≥ 0.8x",
            lambda r: r >= 0.8,
        )
    elif pg_to_tap is not None:  # the target is for 1,000,000 rows: shown, not judged, here
        report.rows.append(
            Row(
                benchmark, "meltano run with target-postgres-bulk ÷ the tap alone", figure=f"{pg_to_tap:.2f}x"
            )
        )
    for name, seen in peaks.items():
        if not seen:
            continue
        tap_mb, loader_mb = max(p[0] for p in seen), max(p[1] for p in seen)
        report.target(
            benchmark,
            f"{name}: peak RSS of the tap and of the loader",
            max(tap_mb, loader_mb),
            f"tap {tap_mb:.0f} MB, loader {loader_mb:.0f} MB",
            f"each < {PEAK_RSS_MB} MB (flat: ≤ 1.2x from 100,000 to 1,000,000 rows)",
            tap_mb < PEAK_RSS_MB and loader_mb < PEAK_RSS_MB,
        )


def run_meltano(
    project: MeltanoProject,
    base_url: str,
    workdir: Path,
    loader: str = "target-duckdb",
    catalog: Path | None = None,
    extra: dict[str, str] | None = None,
) -> tuple[ChildRun, Path]:
    """``meltano run tap-projects <loader>``; with ``catalog``, Meltano is given the tap's catalog (the
    ``catalog`` extra) instead of discovering it before the run, as it reuses its cached discovery
    when a project's config does not change between runs (the bench's port does)."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "meltano.duckdb"
    env = {
        **({"TAP_PROJECTS__CATALOG": str(catalog)} if catalog is not None else {}),
        **project.env,
        "MELTANO_DATABASE_URI": f"sqlite:///{workdir}/meltano.db",
        f"{loader.upper().replace('-', '_')}_FILEPATH": str(db),
        "TAP_PROJECTS_BASE_URL": base_url,
        "TAP_PROJECTS_API_KEY": API_KEY,
        **(extra or {}),
    }
    argv = [venv_script("meltano"), "run", "tap-projects", loader]
    return run_child(argv, env=env, cwd=project.root, stdout=workdir / "meltano.out"), db


def run_dlt(base_url: str, workdir: Path) -> tuple[ChildRun, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "dlt.duckdb"
    argv = [
        sys.executable,
        "-m",
        "dlt_sources",
        "projects",
        "--base-url",
        base_url,
        "--duckdb-file",
        str(db),
        "--pipelines-dir",
        str(workdir / "pipelines"),
        "--pipeline-name",
        "bench_e2e",
        "-q",
    ]
    env = child_env(SOURCES__PROJECTS__API_KEY=API_KEY)
    return run_child(argv, env=env, cwd=REPO, stdout=workdir / "dlt.out"), db


def loaded_ids(db: Path, schema: str, tables: list[str]) -> dict[str, list]:
    """Ids per table (an absent table: an empty list), read-only: never upgrade the file's format."""
    import duckdb

    found: dict[str, list] = {}
    if not db.exists():
        return {t: [] for t in tables}
    con = duckdb.connect(str(db), read_only=True)
    try:
        present = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
            ).fetchall()
        }
        for table in tables:
            if table in present:
                found[table] = [r[0] for r in con.execute(f'SELECT id FROM "{schema}"."{table}"').fetchall()]
            else:
                found[table] = []
    finally:
        con.close()
    return found


class PeakWatch:
    """The peak RSS (the kernel's VmHWM) of each plugin process Meltano runs from ``sys_dir`` while the
    block is open, sampled every 50 ms: by the executable's name (``tap-projects``, ``target-...``)."""

    def __init__(self, sys_dir: Path):
        self.marker = str(sys_dir)
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, executable: str) -> float:
        return self.peaks.get(executable, 0.0)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    argv = (entry / "cmdline").read_bytes().split(b"\0")
                    if self.marker.encode() not in b" ".join(argv):
                        continue
                    names = [Path(w.decode()).name for w in argv[:2]]
                    status = (entry / "status").read_text()
                except OSError:
                    continue
                if "--discover" in [w.decode() for w in argv]:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        mb = int(line.split()[1]) / 1024
                        for name in names:
                            if name.startswith(("tap-", "target-")):
                                self.peaks[name] = max(self.peaks.get(name, 0.0), mb)


@contextlib.contextmanager
def postgres_server(small: bool) -> Iterator[str | None]:
    """A PostgreSQL server: TEST_PG_DSN's, else a throwaway one from the local binaries (tests/pg.py),
    else (and with --small) None: the PostgreSQL row says n/a."""
    if small:  # --small stays cheap: the PostgreSQL row is for the full sizes
        yield None
        return
    if os.environ.get("TEST_PG_DSN"):
        yield os.environ["TEST_PG_DSN"]
        return
    sys.path.insert(0, str(REPO / "tests"))
    import pg

    if pg.find_pg_bin() is None:
        yield None
        return
    with pg.LocalPostgres() as server:
        yield server.dsn


@contextlib.contextmanager
def fresh_database(dsn: str, name: str) -> Iterator[str]:
    """A new database on the server of ``dsn``, dropped afterwards; its DSN."""
    from urllib.parse import urlparse, urlunparse

    import psycopg2

    def admin(sql: str) -> None:
        con = psycopg2.connect(dsn)
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute(sql)
        finally:
            con.close()

    admin(f'DROP DATABASE IF EXISTS "{name}"')
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(urlparse(dsn)._replace(path=f"/{name}"))
    finally:
        time.sleep(0.1)
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_env(dsn: str) -> dict[str, str]:
    from urllib.parse import unquote, urlparse

    url = urlparse(dsn)
    return {
        "TARGET_POSTGRES_BULK_HOST": url.hostname or "127.0.0.1",
        "TARGET_POSTGRES_BULK_PORT": str(url.port or 5432),
        "TARGET_POSTGRES_BULK_USER": unquote(url.username or "postgres"),
        "TARGET_POSTGRES_BULK_PASSWORD": unquote(url.password or ""),
        "TARGET_POSTGRES_BULK_DATABASE": url.path.lstrip("/") or "postgres",
    }


def postgres_loaded_ids(dsn: str, schema: str, tables: list[str]) -> dict[str, list]:
    import psycopg2

    found: dict[str, list] = {t: [] for t in tables}
    con = psycopg2.connect(dsn)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema])
            present = {r[0] for r in cur.fetchall()}
            for table in tables:
                if table in present:
                    cur.execute(f'SELECT id FROM "{schema}"."{table}"')
                    found[table] = [r[0] for r in cur.fetchall()]
    finally:
        con.close()
    return found
