"""The dlt runner's pipelines directory: found by `dlt pipeline`, and no customer records left in it.

dlt keeps each completed load package, with every loaded record in its files, under the pipelines
directory, which is not dlt's default one (`output/dlt_pipelines`): `dlt pipeline --list` finds nothing
there. The runner prints the exact `dlt pipeline --pipelines-dir ... info` command after every run, and
deletes the loaded files unless `--keep-load-packages` (issue 25).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import api_sandbox
from dlt_sources.testing import run_cli

VENV_BIN = Path(sys.executable).parent


def _job_files(pipelines: Path) -> list[Path]:
    return [p for p in pipelines.glob("*/load/loaded/*/completed_jobs/*") if p.is_file()]


def _run(sb: api_sandbox.Sandbox, tmp_path: Path, pipelines: Path, *flags: str) -> str:
    result = run_cli(
        "projects",
        "--base-url",
        sb.base_url,
        "--duckdb-file",
        str(tmp_path / "dlt.duckdb"),
        "--pipelines-dir",
        str(pipelines),
        *flags,
        env={"SOURCES__PROJECTS__API_KEY": "sandbox-key"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_loaded_records_deleted_unless_kept_and_pipeline_found(tmp_path: Path) -> None:
    with api_sandbox.run_sandbox("projects", records=5) as sb:
        stdout = _run(sb, tmp_path, tmp_path / "default")
        _run(sb, tmp_path, tmp_path / "kept", "--keep-load-packages")
    packages = list((tmp_path / "default").glob("dlt_projects/load/loaded/*"))
    assert len(packages) == 1, packages
    assert _job_files(tmp_path / "default") == [], "the loaded records stayed in the pipelines directory"
    assert _job_files(tmp_path / "kept"), "--keep-load-packages kept no loaded files"

    last = stdout.strip().splitlines()[-1]
    assert last.startswith("inspect: dlt pipeline --pipelines-dir "), stdout
    command = shlex.split(last.removeprefix("inspect: "))
    info = subprocess.run(
        [str(VENV_BIN / "dlt"), *command[1:]], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert info.returncode == 0, info.stderr[-2000:]
    assert "dlt_projects" in info.stdout and packages[0].name in info.stdout, info.stdout
