"""The README's speed tables are RESULTS.md's: generated from it (``python -m bench --readme``), never
typed, so the two cannot show different runs. In process, no benchmark runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "dev"))

from bench import publish  # noqa: E402


def test_readme_tables_are_those_of_results_md() -> None:
    readme = publish.README.read_text()
    results = publish.parse(publish.RESULTS.read_text())
    assert publish.rewrite_readme(readme, results) == readme, (
        "README.md's speed tables differ from dev/bench/RESULTS.md: run "
        "`PYTHONPATH=dev .venv/bin/python -m bench --readme` and commit the result"
    )


def test_every_row_of_the_published_benchmarks_is_in_the_readme() -> None:
    readme = publish.README.read_text()
    results = publish.parse(publish.RESULTS.read_text())
    for name, numbers in publish.BLOCKS.items():
        shown = readme.split(f"<!-- bench:{name} -->")[1].split(f"<!-- /bench:{name} -->")[0]
        for number in numbers:
            rows = results.of(number)
            if not rows:  # a benchmark newer than the run RESULTS.md records says so
                assert f"RESULTS.md has no benchmark {number}" in shown
            for row in rows:
                assert f"| {row.system} |" in shown and row.figure in shown, (name, row)


def test_a_figure_typed_into_the_readme_is_caught() -> None:
    readme = publish.README.read_text()
    results = publish.parse(publish.RESULTS.read_text())
    figure = results.of("1")[0].figure
    tampered = readme.replace(figure, figure.replace(figure.split()[0], "208,000", 1), 1)
    assert tampered != readme
    assert publish.rewrite_readme(tampered, results) != tampered


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("# Benchmark results\n\nno table here\n", "no 'Measured ...' line"),
        (
            "Measured 2026 by x. Medians\n- load average now (1, 5, 15 min): 1.0, 1.0, 1.0\n\nplain text\n",
            "no results table",
        ),
    ],
)
def test_unreadable_results_md_gets_one_line(text: str, says: str) -> None:
    with pytest.raises(publish.PublishError, match=says) as info:
        publish.parse(text)
    assert "\n" not in str(info.value)


def test_readme_without_markers_gets_one_line() -> None:
    results = publish.parse(publish.RESULTS.read_text())
    with pytest.raises(publish.PublishError, match="needs one '<!-- bench:speed -->'"):
        publish.rewrite_readme("# no markers\n", results)


def test_chart_is_written(tmp_path: Path) -> None:
    out = tmp_path / "e2e.png"
    publish.chart(publish.parse(publish.RESULTS.read_text()), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chart_shows_the_fixed_cost_parts_when_results_have_them(tmp_path: Path) -> None:
    text = (
        "Measured 2026-12-02 01:42 UTC by `python -m bench --runs 3 --only fixed` (2.7 min). Medians\n"
        "- load average now (1, 5, 15 min): 7.0, 9.2, 7.3\n\n"
        "| benchmark | system | delivered / truth | wall, median (min-max) | figure | target | met |\n"
        "|---|---|---|---|---|---|---|\n"
        "| 8. fixed cost | import meltano.cli |  | 3.92 s | CPU 1.28 s |  |  |\n"
        "|  | (a derived row) |  |  | +3.83 s wall, +1.27 s CPU |  |  |\n"
    )
    out = tmp_path / "e2e.png"
    publish.chart(publish.parse(text), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(publish.PublishError, match="no rows of benchmark 4"):
        publish.chart(publish.parse(text.replace("CPU 1.28 s", "1.28 s")), out)
