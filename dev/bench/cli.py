"""``python -m bench``: measure, print one table, write dev/bench/RESULTS.md.

The benchmarks (one module each), each against a sandbox in its own process on loopback, each system
a fresh subprocess timed from spawn to exit (start-up included, the same for every system), medians
of ``--runs`` rounds with the systems interleaved inside each round so drifting machine load hits
them alike. Every system's delivery is checked against the sandbox's truth; a loss is printed in capitals
and makes the exit status 1. Time targets are reported, never enforced.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from bench import decoding, e2e, fixed_cost, latency, loaders, memory, orchestrated, publish, throughput
from bench.machine import calibration
from bench.procs import REPO
from bench.results import Report, Row, log, render
from bench.sizes import FULL, SMALL

RESULTS = publish.RESULTS


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
    p.add_argument("--no-write", action="store_true", help="print only; leave dev/bench/RESULTS.md alone")
    p.add_argument(
        "--only",
        action="append",
        choices=("throughput", "latency", "memory", "e2e", "loaders", "decoding", "orchestrated", "fixed"),
        help="run only these benchmarks (repeatable)",
    )
    p.add_argument(
        "--readme",
        action="store_true",
        help="run nothing: rewrite the README's speed tables and dev/bench/e2e.png from dev/bench/RESULTS.md",
    )
    p.add_argument("--json", type=Path, help="also write rows, deliveries and targets as JSON here")
    p.add_argument(
        "--e2e-records",
        type=int,
        metavar="N",
        help=f"records per resource in the end-to-end benchmark (default {FULL.e2e:,}, the issue's "
        "100,000 in all; larger sizes show each pipeline's pace with its fixed start-up cost spread thin)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.readme:
        try:
            publish.publish()
        except (publish.PublishError, OSError) as exc:
            raise SystemExit(f"python -m bench --readme: {exc}") from None
        log(f"README.md and {publish.CHART.relative_to(REPO)} rewritten from {RESULTS.relative_to(REPO)}")
        return 0
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    sizes = SMALL if args.small else FULL
    if args.e2e_records is not None:
        if args.e2e_records < 1:
            raise SystemExit("--e2e-records must be at least 1")
        sizes = dataclasses.replace(sizes, e2e=args.e2e_records)
    report = Report(small=args.small, calibrated_at_start=calibration())
    started = datetime.datetime.now(datetime.UTC)
    t0 = datetime.datetime.now().timestamp()
    # The orchestrated benchmark starts Dagster twice and runs 24 syncs, the fixed-cost one starts Meltano
    # a dozen times (no smaller at --small): neither at --small size unless asked.
    chosen = args.only or [
        "throughput",
        "latency",
        "memory",
        "e2e",
        "loaders",
        "decoding",
        *([] if args.small else ["orchestrated", "fixed"]),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp_name:
        tmp = Path(tmp_name)
        steps: dict[str, Callable[[], None]] = {
            "throughput": lambda: throughput.bench_throughput(report, sizes, args.runs, tmp),
            "latency": lambda: latency.bench_latency(report, sizes, args.runs, tmp),
            "memory": lambda: memory.bench_memory(report, sizes, args.runs, tmp),
            "e2e": lambda: e2e.bench_e2e(report, sizes, args.runs, tmp, args.small),
            "loaders": lambda: loaders.bench_loaders(report, sizes, args.runs, tmp),
            "decoding": lambda: decoding.bench_decoding(report, sizes, args.runs),
            "orchestrated": lambda: orchestrated.bench_orchestrated(report, tmp, args.small),
            "fixed": lambda: fixed_cost.bench_fixed_cost(report, args.runs, tmp, args.small),
        }
        for name in chosen:
            try:
                steps[name]()
            except Exception as exc:
                message = f"{name}: {type(exc).__name__}: {str(exc).strip()[:2000]}"
                report.errors.append(message)
                report.rows.append(Row(name, "ERROR", figure=f"n/a ({message.splitlines()[0][:200]})"))
                log(traceback.format_exc())
    seconds = datetime.datetime.now().timestamp() - t0
    text = render(report, small=args.small, runs=args.runs, started=started, seconds=seconds, only=args.only)
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
        try:
            publish.publish()
        except publish.PublishError as exc:
            log(f"!!! README.md's tables and {publish.CHART.name} NOT rewritten: {exc}")
            return 1
        log(f"README.md's tables and {publish.CHART.relative_to(REPO)} rewritten from it")
    lost = [d for d in report.deliveries if not d.ok]
    if lost:
        log(f"!!! {len(lost)} run(s) LOST RECORDS: see the table")
        return 1
    return 1 if report.errors else 0
