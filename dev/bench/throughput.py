"""1. Throughput: one stream of tap-projects against a plain singer-sdk stream, dlt's extract, the raw
limit (one session, orjson, one page after another) and the raw ceiling (msgspec, 8 pages in flight),
each written to /dev/null after one verifying run; then the tap's CPU per record (issue 26) on ``jobs``
against the sequential raw loop, and what the evolve contract's page check costs against discard_value."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from api_sandbox.launcher import SandboxProcess
from bench.meltano_project import plugin_script
from bench.procs import venv_script
from bench.results import Report, Row, log, mb
from bench.sizes import Sizes
from bench.systems import discover_catalog, dlt_system, measure, raw_system, tap_system, write_config


def bench_throughput(report: Report, sizes: Sizes, runs: int, tmp: Path) -> None:
    n = sizes.throughput
    resource, page = "activities", 1000
    benchmark = f"1. throughput: {n:,} {resource}, pages of {page:,}, output to /dev/null"
    log(benchmark)
    with SandboxProcess("projects", records=n) as sb:
        truth = sb.truth(resource)
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
        raw = raw_system("sequential", sb.base_url, resource, page)
        ceiling = raw_system("msgspec8", sb.base_url, resource, page)
        systems = [ours, sdk, dlt, raw, ceiling]
        measure(report, benchmark, systems, truth, runs, tmp, verify_first=True, timed_to_file=False)
    rate = {s.name: n / statistics.median(s.walls) for s in systems}
    for s in systems:
        figure = f"{rate[s.name]:,.0f} rec/s, peak RSS {mb(s.rss):.0f} MB"
        report.measured(benchmark, s.name, s.deliveries, s.walls, figure)
    r_raw = rate[ours.name] / rate[raw.name]
    r_sdk = rate[ours.name] / rate[sdk.name]
    r_dlt = rate[ours.name] / rate[dlt.name]
    report.rows.append(
        Row(benchmark, "(our tap ÷ raw ceiling)", figure=f"{rate[ours.name] / rate[ceiling.name]:.2f}x")
    )
    report.ratio_target(benchmark, "our tap ÷ raw limit", r_raw, "≥ 0.5x", lambda r: r >= 0.5)
    report.ratio_target(benchmark, "our tap ÷ plain singer-sdk", r_sdk, "≥ 3x", lambda r: r >= 3)
    report.ratio_target(benchmark, "our tap ÷ dlt", r_dlt, "≥ 3x", lambda r: r >= 3)
    bench_tap_cpu(report, sizes, runs, tmp)


CPU_TARGET_US = 8.0  # µs of CPU (user + system, the whole process) per record


def bench_tap_cpu(report: Report, sizes: Sizes, runs: int, tmp: Path) -> None:
    """tap-projects alone on ``jobs`` in pages of 1,000 against the sequential raw loop, CPU per record from
    each child's rusage, and the default contract (evolve: a check of every page) against discard_value."""
    n = sizes.throughput
    resource, page = "jobs", 1000
    benchmark = f"1b. tap CPU: {n:,} {resource}, pages of {page:,}, output to /dev/null"
    log(benchmark)
    with SandboxProcess("projects", records=n) as sb:
        truth = sb.truth(resource)
        catalog = discover_catalog(tmp, sb.base_url, resource)
        # the tap as meltano run starts it, from its plugin venv (meltano_project.plugin_script)
        argv = [plugin_script("extractors", "tap-projects"), "--catalog", str(catalog), "--config"]
        evolve_cfg = write_config(tmp, "tp-evolve", base_url=sb.base_url)
        discard_cfg = write_config(tmp, "tp-discard", base_url=sb.base_url, schema_contract="discard_value")
        evolve = tap_system("our tap (schema_contract evolve)", [*argv, str(evolve_cfg)], resource)
        discard = tap_system("our tap (schema_contract discard_value)", [*argv, str(discard_cfg)], resource)
        raw = raw_system("sequential", sb.base_url, resource, page)
        systems = [evolve, discard, raw]
        measure(report, benchmark, systems, truth, runs, tmp, verify_first=True, timed_to_file=False)
    wall = {s.name: statistics.median(s.walls) for s in systems}
    cpu_us = {s.name: statistics.median(s.cpus) / n * 1e6 for s in systems}
    for s in systems:
        figure = (
            f"{n / wall[s.name]:,.0f} rec/s, {cpu_us[s.name]:.1f} µs CPU/record, peak RSS {mb(s.rss):.0f} MB"
        )
        report.measured(benchmark, s.name, s.deliveries, s.walls, figure)
    ours = cpu_us[evolve.name]
    report.target(
        benchmark,
        "our tap's CPU per record",
        ours,
        f"{ours:.1f} µs",
        f"≤ {CPU_TARGET_US:g} µs",
        ours <= CPU_TARGET_US,
    )
    r_raw = wall[raw.name] / wall[evolve.name]
    report.ratio_target(
        benchmark, "our tap ÷ sequential raw loop (speed)", r_raw, "≥ 1.5x", lambda r: r >= 1.5
    )
    r_contract = wall[discard.name] / wall[evolve.name]
    report.ratio_target(
        benchmark, "evolve ÷ discard_value (speed)", r_contract, "≥ 0.95x", lambda r: r >= 0.95
    )
