"""The fixed-cost benchmark's reading of ``python -X importtime`` (in process, one tiny child)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "dev"))

from bench.fixed_cost import import_breakdown  # noqa: E402

SAMPLE = """import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _io
import time:      2000 |       2500 |     attr._make
import time:       500 |       3000 |   attr
import time:      4000 |       7500 | singer_sdk.streams
import time:      1000 |       1000 | singer_sdk
"""


def test_self_time_adds_up_per_top_level_package() -> None:
    assert import_breakdown(SAMPLE) == [("singer_sdk", 0.005), ("attr", 0.0025), ("_io", 0.0001)]
    assert import_breakdown(SAMPLE, top=1) == [("singer_sdk", 0.005)]


def test_reads_what_python_writes() -> None:
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import json"], capture_output=True, text=True, check=True
    ).stderr
    names = [name for name, _ in import_breakdown(err, top=100)]
    assert "json" in names and all(seconds >= 0 for _, seconds in import_breakdown(err))
