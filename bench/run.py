"""``python -m bench``: measure, print one table, write bench/RESULTS.md.

Four benchmarks, each against a sandbox in its own process on loopback, each system a fresh
subprocess timed from spawn to exit (start-up included, the same for every system), medians of
``--runs`` rounds with the systems interleaved inside each round so drifting machine load hits them
alike. Every system's delivery is checked against the sandbox's truth; a loss is printed in capitals
and makes the exit status 1. Time targets are reported, never enforced.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from bench import decoding, e2e, loaders, orchestrated
from bench.procs import (
    API_KEY,
    REPO,
    ChildRun,
    SandboxProcess,
    record_count_metric,
    reported_records,
    run_child,
    singer_record_ids,
    venv_script,
)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
LATENCY_MS = 50
CONCURRENCY = 8  # tapkit's default max_concurrency


@dataclass(frozen=True)
class Sizes:
    throughput: int
    latency: int
    memory_small: int
    memory_large: int
    e2e: int
    loader_small: int  # records for the loaders' peak RSS, and 10x that
    loader_large: int


FULL = Sizes(
    throughput=200_000,
    latency=100_000,
    memory_small=10_000,
    memory_large=1_000_000,
    e2e=20_000,
    loader_small=100_000,
    loader_large=1_000_000,
)
SMALL = Sizes(
    throughput=2_000, latency=1_000, memory_small=100, memory_large=10_000, e2e=200, loader_small=1_000,
    loader_large=10_000,
)  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- results ------------------------------------------------------------------------------------


@dataclass
class Delivery:
    """What one system delivered in one run, against the sandbox's truth."""

    benchmark: str
    system: str
    run: str
    got: int
    truth: int
    ids_checked: bool = False
    ids_match: bool | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.got == self.truth and self.ids_match is not False


@dataclass
class Row:
    benchmark: str
    system: str
    delivered: str = ""
    wall: str = ""
    figure: str = ""
    target: str = ""
    met: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    targets: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    small: bool = False  # --small: targets are shown, not judged

    def deliver(self, d: Delivery) -> Delivery:
        self.deliveries.append(d)
        if not d.ok:
            what = "ids differ from the truth" if d.got == d.truth else f"{d.got} of {d.truth} records"
            log(f"!!! {d.benchmark} / {d.system} / {d.run}: LOST RECORDS: {what} {d.note}")
        return d

    def target(
        self, benchmark: str, name: str, value: float | None, shown: str, goal: str, ok: bool | None
    ) -> None:
        if self.small:  # start-up dominates ~100x smaller runs: the figure is shown, not judged
            ok = None
        met = ("n/a (--small)" if self.small else "n/a") if ok is None else ("yes" if ok else "NO")
        self.targets.append({"benchmark": benchmark, "target": name, "value": value, "goal": goal, "met": ok})
        self.rows.append(Row(benchmark, f"target: {name}", figure=shown, target=goal, met=met))


def delivered_text(ds: list[Delivery]) -> str:
    if not ds:
        return "n/a"
    truth = ds[0].truth
    bad = [d for d in ds if not d.ok]
    if bad:
        worst = min(bad, key=lambda d: d.got)
        if worst.got == worst.truth:
            return f"WRONG IDS ({len(bad)} of {len(ds)} runs)"
        return f"LOST {worst.truth - worst.got:,} of {truth:,} ({len(bad)} of {len(ds)} runs)"
    checked = " ids ✓" if any(d.ids_checked for d in ds) else ""
    return f"{truth:,}/{truth:,}{checked}"


def wall_text(walls: list[float]) -> str:
    if not walls:
        return "n/a"
    med = statistics.median(walls)
    if len(walls) == 1:
        return f"{med:.2f} s"
    return f"{med:.2f} s ({min(walls):.2f}-{max(walls):.2f})"


def mb(values: list[float]) -> float:
    return statistics.median(values)


# -- one system, several runs -----------------------------------------------------------------


@dataclass
class System:
    name: str
    # run(index, out_path or None for /dev/null, verify) -> (ChildRun, got, ids or None)
    run: Callable[[int, Path | None, bool], tuple[ChildRun, int, list | None]]
    walls: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)  # e.g. requests made per run


def measure(
    report: Report,
    benchmark: str,
    systems: list[System],
    truth: list,
    runs: int,
    tmp: Path,
    *,
    verify_first: bool,
    timed_to_file: bool,
    before_run: Callable[[], None] | None = None,
    after_run: Callable[[System], None] | None = None,
) -> None:
    """An untimed verifying warm-up per system (``verify_first``), then ``runs`` interleaved rounds."""
    truth_sorted = sorted(truth)
    plan: list[tuple[str, int]] = ([("verify", 0)] if verify_first else []) + [
        ("timed", i + 1) for i in range(runs)
    ]
    for kind, index in plan:
        for system in systems:
            to_file = kind == "verify" or timed_to_file
            out = tmp / f"{system.name.replace(' ', '_')}-{kind}-{index}.out" if to_file else None
            if before_run:
                before_run()
            result, got, ids = system.run(index, out, to_file)
            result.check(f"{benchmark}: {system.name}")
            label = "verification run" if kind == "verify" else f"run {index}"
            d = Delivery(benchmark, system.name, label, got, len(truth))
            if ids is not None:
                d.ids_checked = True
                d.ids_match = sorted(ids) == truth_sorted
                d.got = len(ids)
            system.deliveries.append(report.deliver(d))
            if out is not None and out.exists():
                out.unlink()
            if kind == "timed":
                system.walls.append(result.wall)
                system.rss.append(result.max_rss_mb)
                if after_run:
                    after_run(system)
            log(
                f"  {system.name:<40} {label:<17} {result.wall:7.2f} s "
                f"{result.max_rss_mb:6.0f} MB {got:>9,} records"
            )


# -- the systems --------------------------------------------------------------------------------


def discover_catalog(tmp: Path, base_url: str, only: str) -> Path:
    """tap-projects' own catalog with only ``only`` selected."""
    cfg = tmp / "discover-config.json"
    cfg.write_text(json.dumps({"api_key": API_KEY, "base_url": base_url}))
    out = tmp / "catalog-all.json"
    run_child([venv_script("tap-projects"), "--config", str(cfg), "--discover"], stdout=out).check("discover")
    catalog = json.loads(out.read_text())
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == only
    path = tmp / f"catalog-{only}.json"
    path.write_text(json.dumps(catalog))
    return path


def write_config(tmp: Path, name: str, **settings: object) -> Path:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"api_key": API_KEY, **settings}))
    return path


def tap_system(name: str, argv: list[str], stream: str) -> System:
    def run(index: int, out: Path | None, verify: bool) -> tuple[ChildRun, int, list | None]:
        result = run_child(argv, stdout=out or os.devnull)
        if out is not None:
            ids = singer_record_ids(out, stream)
            return result, len(ids), ids
        return result, record_count_metric(result.stderr, stream), None

    return System(name, run)


def raw_system(base_url: str, path: str, selector: str, page_size: int) -> System:
    argv = [sys.executable, "-m", "bench.raw", base_url, path, selector, str(page_size)]
    stream = path.rsplit("/", 1)[-1]

    def run(index: int, out: Path | None, verify: bool) -> tuple[ChildRun, int, list | None]:
        result = run_child(argv, stdout=out or os.devnull)
        if out is not None:
            ids = singer_record_ids(out, stream)
            return result, len(ids), ids
        return result, reported_records(result.stderr), None

    return System("raw limit (requests + orjson)", run)


def dlt_system(base_url: str, resource: str, tmp: Path) -> System:
    def run(index: int, out: Path | None, verify: bool) -> tuple[ChildRun, int, list | None]:
        pipelines = tempfile.mkdtemp(prefix="dlt-", dir=tmp)
        argv = [sys.executable, "-m", "bench.dlt_extract", base_url, resource, pipelines]
        if out is not None:
            argv.append(str(out))
        result = run_child(argv)
        ids = None
        if out is not None and result.returncode == 0:
            ids = [int(line) for line in out.read_text().split()]
        return result, reported_records(result.stderr), ids

    return System("dlt rest_api (extract only)", run)


# -- 1. throughput ------------------------------------------------------------------------------


def bench_throughput(report: Report, sizes: Sizes, runs: int, tmp: Path) -> None:
    n = sizes.throughput
    resource, path, selector, page = "activities", "/v1/activities", "activity", 1000
    benchmark = f"1. throughput: {n:,} {resource}, pages of {page:,}, output to /dev/null"
    log(benchmark)
    with SandboxProcess(n) as sb:
        truth = sb.truth(resource)[resource]
        catalog = discover_catalog(tmp, sb.base_url, resource)
        ours_cfg = write_config(tmp, "tp-ours", base_url=sb.base_url)
        sdk_cfg = write_config(tmp, "tp-sdk", base_url=sb.base_url, resource=resource)
        ours = tap_system(
            "our tap (tap-projects)",
            [venv_script("tap-projects"), "--config", str(ours_cfg), "--catalog", str(catalog)],
            resource,
        )
        sdk = tap_system(
            "plain singer-sdk stream",
            [sys.executable, "-m", "bench.sdk_tap", "--config", str(sdk_cfg)],
            resource,
        )
        dlt = dlt_system(sb.base_url, resource, tmp)
        raw = raw_system(sb.base_url, path, selector, page)
        systems = [ours, sdk, dlt, raw]
        measure(report, benchmark, systems, truth, runs, tmp, verify_first=True, timed_to_file=False)
    rate = {s.name: n / statistics.median(s.walls) for s in systems}
    for s in systems:
        report.rows.append(
            Row(
                benchmark,
                s.name,
                delivered_text(s.deliveries),
                wall_text(s.walls),
                f"{rate[s.name]:,.0f} rec/s, peak RSS {mb(s.rss):.0f} MB",
            )
        )
    r_raw = rate[ours.name] / rate[raw.name]
    r_sdk = rate[ours.name] / rate[sdk.name]
    r_dlt = rate[ours.name] / rate[dlt.name]
    report.target(benchmark, "our tap ÷ raw limit", r_raw, f"{r_raw:.2f}x", "≥ 0.5x", r_raw >= 0.5)
    report.target(benchmark, "our tap ÷ plain singer-sdk", r_sdk, f"{r_sdk:.2f}x", "≥ 3x", r_sdk >= 3)
    report.target(benchmark, "our tap ÷ dlt", r_dlt, f"{r_dlt:.2f}x", "≥ 3x", r_dlt >= 3)


# -- 2. latency ---------------------------------------------------------------------------------


def bench_latency(report: Report, sizes: Sizes, runs: int, tmp: Path) -> None:
    n = sizes.latency
    resource, path, page = "tasks", "/v1/tasks", 100
    benchmark = f"2. latency: {n:,} {resource}, pages of {page}, {LATENCY_MS} ms per response"
    log(benchmark)
    needed = math.ceil(n / page) + 1  # every page, and the empty one that says it was the last
    ideal_concurrent = needed * LATENCY_MS / 1000 / CONCURRENCY
    ideal_sequential = needed * LATENCY_MS / 1000
    with SandboxProcess(n, latency_ms=LATENCY_MS) as sb:
        truth = sb.truth(resource)[resource]
        catalog = discover_catalog(tmp, sb.base_url, resource)
        cfg8 = write_config(tmp, "lat-ours", base_url=sb.base_url)
        cfg1 = write_config(tmp, "lat-seq", base_url=sb.base_url, max_concurrency=1)
        tap = venv_script("tap-projects")
        ours = tap_system(
            f"our tap ({CONCURRENCY} in flight, default)",
            [tap, "--config", str(cfg8), "--catalog", str(catalog)],
            resource,
        )
        seq = tap_system(
            "our tap sequential (max_concurrency 1)",
            [tap, "--config", str(cfg1), "--catalog", str(catalog)],
            resource,
        )
        dlt = dlt_system(sb.base_url, resource, tmp)
        systems = [ours, seq, dlt]
        measure(
            report,
            benchmark,
            systems,
            truth,
            runs,
            tmp,
            verify_first=False,
            timed_to_file=True,
            before_run=sb.reset,
            after_run=lambda s: s.extra.append(sb.requests_made(path)),
        )
    med = {s.name: statistics.median(s.walls) for s in systems}
    for s in systems:
        ideal = ideal_concurrent if s is ours else ideal_sequential
        report.rows.append(
            Row(
                benchmark,
                s.name,
                delivered_text(s.deliveries),
                wall_text(s.walls),
                f"{med[s.name] / ideal:.2f}x its ideal ({ideal:.2f} s), "
                f"{statistics.median(s.extra):,.0f} requests",
            )
        )
    report.rows.append(
        Row(
            benchmark,
            f"ideal: {needed:,} requests x {LATENCY_MS} ms ÷ {CONCURRENCY}",
            wall=f"{ideal_concurrent:.2f} s",
            figure=f"sequential ideal {ideal_sequential:.2f} s",
        )
    )
    r_ideal = med[ours.name] / ideal_concurrent
    speedup = med[seq.name] / med[ours.name]
    report.target(
        benchmark,
        f"our tap ÷ ideal ({CONCURRENCY} in flight)",
        r_ideal,
        f"{r_ideal:.2f}x",
        "≤ 1.3x",
        r_ideal <= 1.3,
    )
    report.target(
        benchmark, "sequential ÷ our tap (speed-up)", speedup, f"{speedup:.1f}x", "≥ 5x", speedup >= 5
    )
    r_dlt = med[dlt.name] / med[ours.name]
    report.rows.append(Row(benchmark, "(dlt ÷ our tap)", figure=f"{r_dlt:.1f}x slower"))


# -- 3. memory ----------------------------------------------------------------------------------


def bench_memory(report: Report, sizes: Sizes, runs: int, tmp: Path) -> None:
    resource, page = "activities", 1000
    benchmark = (
        f"3. memory: peak RSS of our tap, one stream ({resource}, pages of {page:,}), output to /dev/null"
    )
    log(benchmark)
    peaks: dict[int, float] = {}
    for n in (sizes.memory_small, sizes.memory_large):
        with SandboxProcess(n) as sb:
            truth = sb.truth(resource)[resource]
            catalog = discover_catalog(tmp, sb.base_url, resource)
            cfg = write_config(tmp, f"mem-{n}", base_url=sb.base_url)
            ours = tap_system(
                f"our tap, {n:,} records",
                [venv_script("tap-projects"), "--config", str(cfg), "--catalog", str(catalog)],
                resource,
            )
            measure(report, benchmark, [ours], truth, runs, tmp, verify_first=True, timed_to_file=False)
        peaks[n] = mb(ours.rss)
        report.rows.append(
            Row(
                benchmark,
                ours.name,
                delivered_text(ours.deliveries),
                wall_text(ours.walls),
                f"peak RSS {peaks[n]:.1f} MB (runs: {', '.join(f'{v:.1f}' for v in ours.rss)}), "
                f"{n / statistics.median(ours.walls):,.0f} rec/s",
            )
        )
    small, large = peaks[sizes.memory_small], peaks[sizes.memory_large]
    growth = large / small
    report.target(
        benchmark,
        f"RSS at {sizes.memory_large:,} ÷ at {sizes.memory_small:,}",
        growth,
        f"{growth:.2f}x",
        "≤ 1.2x",
        growth <= 1.2,
    )
    report.target(
        benchmark, f"RSS at {sizes.memory_large:,}", large, f"{large:.1f} MB", "< 200 MB", large < 200
    )


# -- 4. end to end ------------------------------------------------------------------------------


RESOURCES = ("jobs", "contacts", "tasks", "activities", "files")


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
    dlt_name = "python -m dlt_sources projects"
    names = (tap_name, bulk_name, meltano_name, dlt_name)
    with SandboxProcess(n) as sb:
        truth = {k: v for k, v in sb.truth().items() if k in RESOURCES}
        total = sum(len(v) for v in truth.values())
        project: e2e.MeltanoProject | None = e2e.MeltanoProject(tmp / "meltano-project")
        why_not = ""
        try:
            assert project is not None
            if not project.installed():
                if small:
                    why_not = (
                        f"plugins not installed in {e2e.CACHE} (make test or a full bench installs them)"
                    )
                    project = None
                else:
                    log(f"  meltano install into {e2e.CACHE} (once, not timed) ...")
                    project.install()
        except Exception as exc:
            last = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
            why_not = f"meltano install failed: {last[0][:200]}"
            project = None
        results: dict[str, tuple[list[float], list[Delivery]]] = {name: ([], []) for name in names}

        def record(name: str, i: int, result: ChildRun, db: Path, schema: str) -> None:
            """Check one end-to-end load against the truth, keep its time, log it."""
            result.check(name)
            loaded = e2e.loaded_ids(db, schema, list(truth))
            results[name][0].append(result.wall)
            results[name][1].append(_load_delivery(report, benchmark, name, f"run {i}", truth, loaded))
            log(f"  {name:<44} run {i:<13} {result.wall:7.2f} s {sum(map(len, loaded.values())):>12,} rows")

        cfg = write_config(tmp, "e2e-tap", base_url=sb.base_url)
        tap_argv = [venv_script("tap-projects"), "--config", str(cfg)]
        # The catalog Meltano is given (discovered once, untimed; see e2e.MeltanoProject.run).
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
            for loader, name in (("target-duckdb-bulk", bulk_name), ("target-duckdb", meltano_name)):
                if project is None:
                    continue
                try:
                    result, db = project.run(sb.base_url, tmp / f"e2e-{loader}-{i}", loader, catalog)
                    record(name, i, result, db, "tap_projects")
                except Exception as exc:
                    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
                    why_not = f"meltano run failed: {lines[-1][:200] if lines else type(exc).__name__}"
                    log(f"  {why_not}\n{str(exc)[-3000:]}")
                    project = None
            result, db = e2e.run_dlt(sb.base_url, tmp / f"e2e-dlt-{i}")
            record(dlt_name, i, result, db, "projects")
    # The fixed cost of each way of running, whatever the data: the same runs over 1 record a resource.
    fixed: dict[str, float] = {}
    with SandboxProcess(1) as tiny:
        cfg = write_config(tmp, "e2e-tiny", base_url=tiny.base_url)
        walls = [run_child([venv_script("tap-projects"), "--config", str(cfg)]).wall for _ in range(runs)]
        fixed[tap_name] = statistics.median(walls)
        if project is not None:
            walls = []
            for i in range(runs):
                result, _db = project.run(tiny.base_url, tmp / f"e2e-tiny-{i}", "target-duckdb-bulk", catalog)
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
            report.rows.append(Row(benchmark, name, "n/a", "n/a", f"n/a ({why_not})"))
            continue
        rate[name] = total / statistics.median(walls)
        report.rows.append(
            Row(benchmark, name, delivered_text(deliveries), wall_text(walls), f"{rate[name]:,.0f} rows/s")
        )
    if meltano_name in rate and dlt_name in rate:
        ratio = rate[meltano_name] / rate[dlt_name]
        report.rows.append(Row(benchmark, "(dlt ÷ meltano wall time)", figure=f"{ratio:.2f}x"))
    to_tap = rate[bulk_name] / rate[tap_name] if bulk_name in rate else None
    to_stock = rate[bulk_name] / rate[meltano_name] if bulk_name in rate and meltano_name in rate else None
    report.target(
        benchmark,
        "meltano run with target-duckdb-bulk ÷ the tap alone",
        to_tap,
        "n/a" if to_tap is None else f"{to_tap:.2f}x",
        "≥ 0.6x",
        None if to_tap is None else to_tap >= 0.6,
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
    report.target(
        benchmark,
        "target-duckdb-bulk ÷ target-duckdb 0.8 (meltano run)",
        to_stock,
        "n/a" if to_stock is None else f"{to_stock:.2f}x",
        "≥ 5x",
        None if to_stock is None else to_stock >= 5,
    )


# -- the machine, the table, the file -----------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    versions = []
    for pkg in (
        "singer-sdk",
        "dlt",
        "meltano",
        "dagster",
        "requests",
        "orjson",
        "duckdb",
        "psycopg2-binary",
        "tapkit",
        "loaderkit",
        "tap-projects",
        "api-sandbox",
    ):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg} (not installed)")
    load = os.getloadavg()
    return {
        "load average now (1, 5, 15 min)": f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} "
        "(above the core count means other work shared the machine during the run)",
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
        "packages": ", ".join(versions),
    }


def render_table(rows: list[Row]) -> str:
    header = ["benchmark", "system", "delivered / truth", "wall, median (min-max)", "figure", "target", "met"]
    body = []
    last = None
    for r in rows:
        bench = r.benchmark if r.benchmark != last else ""
        last = r.benchmark
        body.append([bench, r.system, r.delivered, r.wall, r.figure, r.target, r.met])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(b) for b in body)
    return "\n".join(out)


def render(
    report: Report, args: argparse.Namespace, sizes: Sizes, started: datetime.datetime, seconds: float
) -> str:
    info = machine()
    lost = [d for d in report.deliveries if not d.ok]
    missed = [t for t in report.targets if t["met"] is False]
    parts = [
        "# Benchmark results",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by "
        f"`python -m bench{' --small' if args.small else ''} --runs {args.runs}` "
        f"({seconds / 60:.1f} min). Medians of {args.runs} run(s) per figure, every system in its own "
        "subprocess "
        "(start-up included), the sandbox in another, on loopback.",
        "",
        *(f"- {k}: {v}" for k, v in info.items()),
        "",
        render_table(report.rows),
        "",
    ]
    if lost:
        parts += ["**RECORDS LOST** — a figure above counts a run that did not deliver everything:", ""]
        parts += [f"- {d.benchmark} / {d.system} / {d.run}: {d.got:,} of {d.truth:,} {d.note}" for d in lost]
        parts.append("")
    else:
        parts += [
            f"Every system delivered every record in every run ({len(report.deliveries)} runs checked "
            "against the sandbox's truth).",
            "",
        ]
    if report.errors:
        parts += ["Errors:", "", *(f"- {e}" for e in report.errors), ""]
    parts.append(
        f"Targets: {len(report.targets) - len(missed)} of {len(report.targets)} met"
        + (f"; missed: {'; '.join(t['target'] + ' (' + t['goal'] + ')' for t in missed)}." if missed else ".")
    )
    parts += [
        "",
        "How: throughput and memory runs write to /dev/null and take the record count the tap reports "
        "(singer-sdk's record_count metric; the raw loop and dlt count their own), after one untimed "
        "verification run per system whose output is checked id by id against the sandbox's truth; "
        "latency and end-to-end runs are each checked id by id. Peak RSS is `wait4`'s `ru_maxrss` "
        "of the one child. See bench/README.md.",
    ]
    return "\n".join(parts) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--runs", type=int, default=3, help="timed runs per system; the figure is their median (default 3)"
    )
    p.add_argument(
        "--small",
        action="store_true",
        help="every size ~100x smaller: the smoke test; never writes RESULTS.md",
    )
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    p.add_argument(
        "--only",
        action="append",
        choices=("throughput", "latency", "memory", "e2e", "loaders", "decoding", "orchestrated"),
        help="run only these benchmarks (repeatable)",
    )
    p.add_argument("--json", type=Path, help="also write rows, deliveries and targets as JSON here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    sizes = SMALL if args.small else FULL
    report = Report(small=args.small)
    started = datetime.datetime.now(datetime.UTC)
    t0 = datetime.datetime.now().timestamp()
    # The orchestrated benchmark starts Dagster twice and runs 24 syncs: never at --small size unless asked.
    chosen = args.only or [
        "throughput",
        "latency",
        "memory",
        "e2e",
        "loaders",
        "decoding",
        *([] if args.small else ["orchestrated"]),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_name:
        tmp = Path(tmp_name)
        steps: dict[str, Callable[[], None]] = {
            "throughput": lambda: bench_throughput(report, sizes, args.runs, tmp),
            "latency": lambda: bench_latency(report, sizes, args.runs, tmp),
            "memory": lambda: bench_memory(report, sizes, args.runs, tmp),
            "e2e": lambda: bench_e2e(report, sizes, args.runs, tmp, args.small),
            "loaders": lambda: loaders.bench_loaders(report, sizes, args.runs, tmp),
            "decoding": lambda: decoding.bench_decoding(report, sizes, args.runs),
            "orchestrated": lambda: orchestrated.bench_orchestrated(report, tmp, args.small),
        }
        for name in chosen:
            try:
                steps[name]()
            except Exception as exc:
                message = f"{name}: {type(exc).__name__}: {str(exc).strip()[:2000]}"
                report.errors.append(message)
                report.rows.append(Row(name, "ERROR", figure=f"n/a ({message.splitlines()[0][:200]})"))
                log(traceback.format_exc())
    text = render(report, args, sizes, started, datetime.datetime.now().timestamp() - t0)
    print(text)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": [asdict(r) for r in report.rows],
                    "deliveries": [{**asdict(d), "ok": d.ok} for d in report.deliveries],
                    "targets": report.targets,
                    "errors": report.errors,
                },
                indent=1,
            )
        )
    if not (args.no_write or args.small or args.only):
        RESULTS.write_text(text)
        log(f"written to {RESULTS.relative_to(REPO)}")
    lost = [d for d in report.deliveries if not d.ok]
    if lost:
        log(f"!!! {len(lost)} run(s) LOST RECORDS: see the table")
        return 1
    return 1 if report.errors else 0
