"""1. Throughput: one stream of tap-projects against a plain singer-sdk stream, dlt's extract, the raw
limit (one session, orjson, one page after another) and the raw ceiling (msgspec, 8 pages in flight),
each written to /dev/null after one verifying run."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from api_sandbox.launcher import SandboxProcess
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
