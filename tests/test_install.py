"""Each tap installs on its own, with the kit, into a clean virtual environment, like a user's
`pip install ./keyguard ./tapkit ./tap-crm` or Meltano's pip_url; its console script then answers --about."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("tap", ["tap-crm", "tap-projects", "tap-leads"])
def test_tap_installs_alone_with_the_kit(tap, tmp_path):
    venv = tmp_path / "venv"
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        install = [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python")]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run(
        [*install, str(ROOT / "keyguard"), str(ROOT / "tapkit"), str(ROOT / tap)], check=True, timeout=600
    )

    about = subprocess.run(
        [str(venv / "bin" / tap), "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    info = json.loads(about.stdout)
    assert info["name"] == tap
    assert info["settings"]["required"] == ["api_key"]
    # the schemas ship inside the wheel: discovery works from the installed package alone
    catalog = subprocess.run(
        [str(venv / "bin" / tap), "--config", "ENV", "--discover"],
        capture_output=True,
        text=True,
        check=True,
        env={"TAP_" + tap[4:].upper() + "_API_KEY": "x", "PATH": "/usr/bin:/bin"},
    )
    expected = {"tap-crm": 11, "tap-projects": 5, "tap-leads": 14}[tap]
    assert len(json.loads(catalog.stdout)["streams"]) == expected
