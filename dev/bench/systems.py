"""The systems a benchmark compares, each a fresh subprocess per run, and how they are measured: an
untimed verifying run, then rounds in which the systems take turns, every delivery checked."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import (
    API_KEY,
    ChildRun,
    record_count_metric,
    reported_pages,
    reported_records,
    run_child,
    singer_record_ids,
    venv_script,
)
from bench.results import Delivery, Report, log


@dataclass
class System:
    name: str
    # run(index, out_path or None for /dev/null, verify) -> (ChildRun, got, ids or None)
    run: Callable[[int, Path | None, bool], tuple[ChildRun, int, list | None]]
    walls: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)  # user + system CPU seconds of each timed run
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
                system.cpus.append(result.cpu)
                if after_run:
                    after_run(system)
            log(
                f"  {system.name:<40} {label:<17} {result.wall:7.2f} s "
                f"{result.max_rss_mb:6.0f} MB {got:>9,} records"
            )


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


def singer_system(name: str, argv: list[str], stream: str, count: Callable[[str], int]) -> System:
    """A program writing Singer messages: ids read from its output when written to a file, else
    ``count(stderr)``, the records it reported."""

    def run(index: int, out: Path | None, verify: bool) -> tuple[ChildRun, int, list | None]:
        result = run_child(argv, stdout=out or os.devnull)
        if out is not None:
            ids = singer_record_ids(out, stream)
            return result, len(ids), ids
        return result, count(result.stderr), None

    return System(name, run)


def tap_system(name: str, argv: list[str], stream: str) -> System:
    """A Singer tap: singer-sdk's record_count metric is its count."""
    return singer_system(name, argv, stream, lambda stderr: record_count_metric(stderr, stream))


RAW_LOOPS = {
    "sequential": "raw limit (requests + orjson)",
    "msgspec8": "raw ceiling (requests + msgspec, 8 in flight)",
}


def raw_system(mode: str, base_url: str, resource: str, page_size: int) -> System:
    """A raw loop (bench/raw.py) over a projects resource with its own page-size parameter, as the sandbox
    reads the document (``size`` for tasks, activities and files; jobs and contacts name none, and the
    sandbox then reads dlt's default ``limit``, which the tap sends too). Its verifying run also checks
    that it read pages of ``page_size``: the raw loop reports its pages and a short page fails it."""
    from api_sandbox.apis import APIS

    spec = APIS["projects"].resource(resource)
    assert spec.paging is not None, f"projects/{resource} is not paginated"
    argv = [sys.executable, "-m", "bench.raw", mode, base_url, spec.path, spec.selector, str(page_size)]
    argv.append(spec.paging[1])
    system = singer_system(RAW_LOOPS[mode], argv, resource, reported_records)
    plain_run = system.run

    def run(index: int, out: Path | None, verify: bool) -> tuple[ChildRun, int, list | None]:
        result, got, ids = plain_run(index, out, verify)
        pages = reported_pages(result.stderr)
        if result.returncode == 0 and pages != -(-got // page_size):
            result.returncode = 1
            result.stderr += f"\n{system.name}: {got} records in {pages} pages, not pages of {page_size}"
        return result, got, ids

    system.run = run
    return system


def dlt_system(base_url: str, resource: str, tmp: Path) -> System:
    """dlt's rest_api, extract only (bench/dlt_extract.py)."""

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
