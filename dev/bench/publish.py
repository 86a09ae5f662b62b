"""What RESULTS.md says, published elsewhere: the README's speed tables and the end-to-end chart.

Both are made from RESULTS.md's text alone, so they cannot come from another run than the one it records.
``python -m bench --readme`` rewrites them from the RESULTS.md on disk; a full ``python -m bench`` does it
after writing RESULTS.md. The README's generated parts sit between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->`` (tests/test_bench_readme.py fails when they differ from what RESULTS.md gives).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.results import Row

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
README = HERE.parents[1] / "README.md"
CHART = HERE / "e2e.png"

# README block -> the benchmarks (by number) whose rows it shows, every row of each.
BLOCKS: dict[str, tuple[str, ...]] = {
    "speed": ("1", "2", "3", "4", "7", "8"),
    "loaders": ("5",),
}


NOTES_IN = "speed"  # the block that carries RESULTS.md's notes


class PublishError(ValueError):
    """RESULTS.md or the README is not in the shape this module reads: the message says what and where."""


@dataclass
class Results:
    measured: str  # "2026-11-29 17:59 UTC by `python -m bench --runs 1` (26.9 min)"
    load: str  # the load average line's value
    rows: list[Row]  # benchmark filled in on every row
    notes: list[str]  # the blockquote lines (notes added to RESULTS.md after its run), "> " kept

    def of(self, number: str) -> list[Row]:
        return [r for r in self.rows if r.benchmark.split(".", 1)[0] == number]


def parse(text: str, where: str = "RESULTS.md") -> Results:
    """RESULTS.md's first line of facts, its load average and its table."""
    measured = re.search(r"^Measured (.+?)\. Medians", text, re.M)
    load = re.search(r"^- load average now \(1, 5, 15 min\): ([0-9., ]+)", text, re.M)
    if not measured or not load:
        raise PublishError(f"{where}: no 'Measured ...' line or no load average line")
    rows: list[Row] = []
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    if not lines or not lines[0].startswith("| benchmark"):
        raise PublishError(f"{where}: no results table (a line starting '| benchmark')")
    benchmark = ""
    for ln in lines[1:]:
        cells = [c.strip() for c in ln.strip().strip("|").split(" | ")]
        if len(cells) != 7:
            raise PublishError(f"{where}: a table row with {len(cells)} cells, not 7: {ln[:80]}")
        benchmark = cells[0] or benchmark
        rows.append(Row(benchmark, *cells[1:]))
    notes = [ln for ln in text.splitlines() if ln.startswith(">")]
    return Results(measured.group(1), load.group(1).strip(), rows, notes)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def block(results: Results, name: str) -> str:
    """The Markdown of one README block: where it comes from, then one table of its benchmarks' rows."""
    out = [
        f"Generated from [dev/bench/RESULTS.md](dev/bench/RESULTS.md) by `python -m bench --readme`: "
        f"measured {results.measured}, load average at the end {results.load} (1, 5, 15 min).",
        "",
        *([*results.notes, ""] if results.notes and name == NOTES_IN else []),
        "| benchmark | system | wall, median | figure | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for number in BLOCKS[name]:
        last = ""
        if not results.of(number):
            out.append(
                f"| {number}. (not in this run: RESULTS.md has no benchmark {number}) |  |  |  |  |  |"
            )
        for r in results.of(number):
            shown = r.benchmark if r.benchmark != last else ""
            last = r.benchmark
            cells = [shown, r.system, r.wall, r.figure, r.target, r.met]
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(out)


def rewrite_readme(readme: str, results: Results, where: str = "README.md") -> str:
    """``readme`` with every block replaced by what ``results`` gives."""
    for name in BLOCKS:
        start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
        if readme.count(start) != 1 or readme.count(end) != 1 or readme.index(start) > readme.index(end):
            raise PublishError(f"{where}: needs one '{start}' ... '{end}' pair")
        head, rest = readme.split(start)
        _, tail = rest.split(end)
        readme = f"{head}{start}\n{block(results, name)}\n{end}{tail}"
    return readme


def rate(figure: str) -> float | None:
    """The leading ``12,345 rows/s`` or ``rec/s`` of a figure, else None."""
    m = re.match(r"([0-9,]+) (?:rows|rec)/s", figure)
    return float(m.group(1).replace(",", "")) if m else None


def _cpu(figure: str) -> float | None:
    m = re.match(r"CPU ([0-9.]+) s$", figure)
    return float(m.group(1)) if m else None


def chart(results: Results, path: Path = CHART) -> None:
    """A PNG of the end-to-end figures, one panel each that RESULTS.md has: benchmark 4's rows/s and its
    fixed cost over 1 record a resource, and benchmark 8's parts of that fixed cost (CPU seconds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e2e, parts = results.of("4"), results.of("8")
    suffix = ": the same over 1 record a resource"
    panels: list[tuple[str, str, str, list[tuple[str, float]]]] = []  # title, x label, value format, bars
    if e2e:
        speeds = [(r.system, v) for r in e2e if (v := rate(r.figure)) is not None]
        fixed = [
            (r.system.removesuffix(suffix), float(r.figure.split()[0]))
            for r in e2e
            if r.system.endswith(suffix)
        ]
        panels.append(
            (e2e[0].benchmark, "rows/s, wall time from spawn to exit (higher is better)", "{:,.0f}", speeds)
        )
        if fixed:
            panels.append(
                (
                    "the same over 1 record a resource: the fixed cost",
                    "seconds of wall time",
                    "{:.2f} s",
                    fixed,
                )
            )
    if parts:
        cpu = [(r.system, v) for r in parts if (v := _cpu(r.figure)) is not None]
        panels.append((parts[0].benchmark, "CPU seconds of the child and its children", "{:.2f} s", cpu))
    panels = [p for p in panels if p[3]]
    if not panels:
        raise PublishError("RESULTS.md: no rows of benchmark 4 (end to end) or 8 (fixed cost) to chart")
    heights = [1.0 + 0.32 * len(bars) for *_, bars in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(11, sum(heights) + 0.6),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (title, xlabel, fmt, bars) in zip(axes[:, 0], panels, strict=True):
        names, values = [n for n, _ in bars][::-1], [v for _, v in bars][::-1]
        ax.barh(names, values, color="#4c72b0" if "rows/s" in xlabel else "#dd8452")
        for i, v in enumerate(values):
            ax.text(v, i, " " + fmt.format(v), va="center", fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="both", labelsize=8)
        ax.margins(x=0.15)
    fig.suptitle(f"dev/bench/RESULTS.md, measured {results.measured.split(' by ')[0]}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def publish(results_path: Path = RESULTS, readme_path: Path = README, chart_path: Path = CHART) -> None:
    """Rewrite the README's blocks and the chart from ``results_path``."""
    results = parse(results_path.read_text(), results_path.name)
    readme_path.write_text(rewrite_readme(readme_path.read_text(), results, readme_path.name))
    chart(results, chart_path)
