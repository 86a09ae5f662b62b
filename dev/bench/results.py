"""What a bench run found, and the Markdown it becomes: deliveries checked against the sandbox's truth,
table rows, targets (reported, never enforced), errors; progress lines on stderr."""

from __future__ import annotations

import datetime
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.machine import machine


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    calibrated_at_start: float | None = None  # machine.calibration() before the first benchmark

    def deliver(self, d: Delivery) -> Delivery:
        self.deliveries.append(d)
        if not d.ok:
            what = "ids differ from the truth" if d.got == d.truth else f"{d.got} of {d.truth} records"
            log(f"!!! {d.benchmark} / {d.system} / {d.run}: LOST RECORDS: {what} {d.note}")
        return d

    def measured(
        self, benchmark: str, system: str, deliveries: list[Delivery], walls: list[float], figure: str
    ) -> None:
        """The row of one system: what it delivered, its wall times, its figure."""
        self.rows.append(Row(benchmark, system, delivered_text(deliveries), wall_text(walls), figure))

    def target(
        self, benchmark: str, name: str, value: float | None, shown: str, goal: str, ok: bool | None
    ) -> None:
        if self.small:  # start-up dominates ~100x smaller runs: the figure is shown, not judged
            ok = None
        met = ("n/a (--small)" if self.small else "n/a") if ok is None else ("yes" if ok else "NO")
        self.targets.append({"benchmark": benchmark, "target": name, "value": value, "goal": goal, "met": ok})
        self.rows.append(Row(benchmark, f"target: {name}", figure=shown, target=goal, met=met))

    def ratio_target(
        self, benchmark: str, name: str, ratio: float | None, goal: str, met: Callable[[float], bool]
    ) -> None:
        """A target on a ratio shown as ``1.23x``; ``None`` (not measured) shows and judges as n/a."""
        if ratio is None:
            self.target(benchmark, name, None, "n/a", goal, None)
        else:
            self.target(benchmark, name, ratio, f"{ratio:.2f}x", goal, met(ratio))


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
    report: Report,
    *,
    small: bool,
    runs: int,
    started: datetime.datetime,
    seconds: float,
    only: list[str] | None = None,
) -> str:
    """RESULTS.md: how it was measured, the machine, the table, losses, errors, targets met."""
    info = machine(report.calibrated_at_start)
    lost = [d for d in report.deliveries if not d.ok]
    missed = [t for t in report.targets if t["met"] is False]
    parts = [
        "# Benchmark results",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by "
        f"`python -m bench{' --small' if small else ''} --runs {runs}"
        f"{''.join(f' --only {name}' for name in only or [])}` "
        f"({seconds / 60:.1f} min). Medians of {runs} run(s) per figure, every system in its own "
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
        "of the one child. See dev/bench/README.md.",
    ]
    return "\n".join(parts) + "\n"
