"""Each tap installs on its own, with the kit, into a clean virtual environment, like a user's
`pip install ./keyguard ./tapkit ./tap-crm` or Meltano's pip_url; its console script then answers --about.
The dlt variant installs likewise (`pip install ./keyguard ./dlt_sources`), without singer-sdk or the kit,
and loads from any directory with the `.dlt/` found there."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import api_sandbox

ROOT = Path(__file__).resolve().parent.parent


def install_clean(venv: Path, *packages: str) -> Path:
    """A new virtual environment at ``venv`` with the repository's ``packages`` (folders) installed, as a
    user's pip would (uv, with its cache, when there is one); returns its bin folder."""
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        install = [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python")]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*install, *(str(ROOT / p) for p in packages)], check=True, timeout=600)
    return venv / "bin"


@pytest.mark.parametrize("tap", ["tap-crm", "tap-projects", "tap-leads"])
def test_tap_installs_alone_with_the_kit(tap, tmp_path):
    venv = tmp_path / "venv"
    install_clean(venv, "kits/keyguard", "kits/tapkit", f"plugins/{tap}")

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


def test_dlt_variant_installs_without_singer_sdk_and_loads_from_any_directory(tmp_path):
    bin_dir = install_clean(tmp_path / "venv", "kits/keyguard", "pipelines/dlt-sources")
    python = str(bin_dir / "python")
    # A directory outside the repository (where no folder of it shadows an installed package), with its own
    # .dlt/ (dlt reads it from the working directory): the base URL from config.toml, the key from
    # secrets.toml, nothing from this process's environment.
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / ".dlt").mkdir(parents=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    found = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util as u; print([m for m in ('singer_sdk', 'tapkit') if u.find_spec(m)])",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "[]", "the dlt variant pulls in the Singer side"
    usage = subprocess.run(
        [python, "-m", "dlt_sources", "--help"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.startswith("usage: python -m dlt_sources [-h]")
    with api_sandbox.run_sandbox("leads", records=30) as sb:
        (elsewhere / ".dlt" / "config.toml").write_text(f'[sources.leads]\nbase_url = "{sb.base_url}"\n')
        (elsewhere / ".dlt" / "secrets.toml").write_text('[sources.leads]\napi_key = "sandbox-key"\n')
        run = subprocess.run(
            [str(bin_dir / "dlt-sources"), "leads", "-q"],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
        )
        truth = sb.truth()
    assert run.returncode == 0, run.stderr
    rows = {line.split()[0]: line.split()[1:] for line in run.stdout.splitlines()[1:]}
    # every resource's rows (this run, in the dataset), child tables aside
    assert {name: rows.get(name) for name in truth} == {
        name: [str(len(ids))] * 2 for name, ids in truth.items()
    }
    assert (elsewhere / "output" / "dlt_leads.duckdb").is_file()
