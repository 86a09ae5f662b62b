"""3. Memory: the peak RSS of tap-projects on one stream at a small and a 100x larger size, output to
/dev/null: a tap that streams stays flat."""

from __future__ import annotations

import statistics
from pathlib import Path

from api_sandbox.launcher import SandboxProcess
from bench.procs import venv_script
from bench.results import Report, log, mb
from bench.sizes import Sizes
from bench.systems import discover_catalog, measure, tap_system, write_config


def bench_memory(report: Report, sizes: Sizes, runs: int, tmp: Path) -> None:
    resource, page = "activities", 1000
    benchmark = (
        f"3. memory: peak RSS of our tap, one stream ({resource}, pages of {page:,}), output to /dev/null"
    )
    log(benchmark)
    peaks: dict[int, float] = {}
    for n in (sizes.memory_small, sizes.memory_large):
        with SandboxProcess("projects", records=n) as sb:
            truth = sb.truth(resource)
            catalog = discover_catalog(tmp, sb.base_url, resource)
            cfg = write_config(tmp, f"mem-{n}", base_url=sb.base_url)
            ours = tap_system(
                f"our tap, {n:,} records",
                [venv_script("tap-projects"), "--config", str(cfg), "--catalog", str(catalog)],
                resource,
            )
            measure(report, benchmark, [ours], truth, runs, tmp, verify_first=True, timed_to_file=False)
        peaks[n] = mb(ours.rss)
        figure = (
            f"peak RSS {peaks[n]:.1f} MB (runs: {', '.join(f'{v:.1f}' for v in ours.rss)}), "
            f"{n / statistics.median(ours.walls):,.0f} rec/s"
        )
        report.measured(benchmark, ours.name, ours.deliveries, ours.walls, figure)
    small, large = peaks[sizes.memory_small], peaks[sizes.memory_large]
    growth = large / small
    report.ratio_target(
        benchmark,
        f"RSS at {sizes.memory_large:,} ÷ at {sizes.memory_small:,}",
        growth,
        "≤ 1.2x",
        lambda g: g <= 1.2,
    )
    report.target(
        benchmark, f"RSS at {sizes.memory_large:,}", large, f"{large:.1f} MB", "< 200 MB", large < 200
    )
