"""The taps' READMEs are generated from the taps (streams, --about): they must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_tap_readmes_are_current():
    check = subprocess.run(
        [sys.executable, str(ROOT / "dev" / "scripts" / "tap_readmes.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_loader_readmes_are_current():
    check = subprocess.run(
        [sys.executable, str(ROOT / "dev" / "scripts" / "loader_readmes.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
