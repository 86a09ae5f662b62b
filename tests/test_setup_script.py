"""dev/scripts/setup.sh finds uv on a fresh Debian 12, whose own python3 refuses `pip install` (PEP 668).

Without uv on PATH, the script must leave the system Python alone and put uv in a private venv
(`python3 -m venv`, then pip inside that venv). The test runs the script's uv step (`setup.sh uv ...`)
under a Python whose stdlib carries the EXTERNALLY-MANAGED marker, with a PATH that has no uv: the old
script (`python3 -m pip install uv`) failed there at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SYSTEM_BIN = "/usr/bin:/bin"


def externally_managed_python() -> str | None:
    """The distribution's python3 (on the system PATH) when it refuses pip installs, else None."""
    python = shutil.which("python3", path=SYSTEM_BIN)
    if python is None:
        return None
    stdlib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return python if stdlib and (Path(stdlib) / "EXTERNALLY-MANAGED").is_file() else None


def test_uv_step_under_a_python_that_refuses_pip(tmp_path: Path) -> None:
    python = externally_managed_python()
    if python is None:
        pytest.skip(f"no python3 with PEP 668's EXTERNALLY-MANAGED on {SYSTEM_BIN} (not a Debian 12?)")
    env = {"PATH": SYSTEM_BIN, "HOME": str(tmp_path), "PYTHON": python, "SETUP_UV_VENV": str(tmp_path / "uv")}
    for name in ("PIP_FIND_LINKS", "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_DISABLE_PIP_VERSION_CHECK"):
        if name in os.environ:  # the machine's pip settings, which a user's machine has in pip.conf
            env[name] = os.environ[name]
    assert shutil.which("uv", path=env["PATH"]) is None, "uv on the system PATH: nothing to test"
    refused = subprocess.run(
        [python, "-m", "pip", "install", "--dry-run", "uv"], env=env, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr, (
        "this python3 does not refuse pip: the test would prove nothing"
    )

    found = subprocess.run(
        ["bash", str(REPO / "dev" / "scripts" / "setup.sh"), "uv", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert found.returncode == 0, found.stdout[-2000:] + found.stderr[-3000:]
    assert found.stdout.strip().splitlines()[-1].startswith("uv "), found.stdout
    assert "private venv" in found.stdout
    assert (tmp_path / "uv" / "bin" / "uv").exists()
    # Found there the next time, without installing again.
    again = subprocess.run(
        ["bash", str(REPO / "dev" / "scripts" / "setup.sh"), "uv", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0 and "installing uv" not in again.stdout, again.stdout + again.stderr
