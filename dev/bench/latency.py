"""2. Latency: tap-projects with its default 8 requests in flight, the same tap sequential and dlt, against
a sandbox that delays every response; each against its ideal (requests x latency ÷ requests in flight)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from api_sandbox.launcher import SandboxProcess
from bench.procs import venv_script
from bench.results import Report, Row, log
from bench.sizes import Sizes
from bench.systems import discover_catalog, dlt_system, measure, tap_system, write_config

LATENCY_MS = 50
CONCURRENCY = 8  # tapkit's default max_concurrency


def bench_latency(report: Report, sizes: Sizes, runs: int, tmp: Path) -> None:
    n = sizes.latency
    resource, path, page = "tasks", "/v1/tasks", 100
    benchmark = f"2. latency: {n:,} {resource}, pages of {page}, {LATENCY_MS} ms per response"
    log(benchmark)
    needed = math.ceil(n / page) + 1  # every page, and the empty one that says it was the last
    ideal_concurrent = needed * LATENCY_MS / 1000 / CONCURRENCY
    ideal_sequential = needed * LATENCY_MS / 1000
    with SandboxProcess("projects", records=n, latency_ms=LATENCY_MS) as sb:
        truth = sb.truth(resource)
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
        requests = statistics.median(s.extra)
        figure = f"{med[s.name] / ideal:.2f}x its ideal ({ideal:.2f} s), {requests:,.0f} requests"
        report.measured(benchmark, s.name, s.deliveries, s.walls, figure)
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
    report.ratio_target(
        benchmark, f"our tap ÷ ideal ({CONCURRENCY} in flight)", r_ideal, "≤ 1.3x", lambda r: r <= 1.3
    )
    report.target(
        benchmark, "sequential ÷ our tap (speed-up)", speedup, f"{speedup:.1f}x", "≥ 5x", speedup >= 5
    )
    r_dlt = med[dlt.name] / med[ours.name]
    report.rows.append(Row(benchmark, "(dlt ÷ our tap)", figure=f"{r_dlt:.1f}x slower"))
