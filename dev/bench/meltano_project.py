"""A throwaway Meltano project made from the repository's meltano.yml, its plugins installed once into a
cache shared by the tests (tests/conftest.py) and the bench, whatever the number of processes.

``create(root)`` writes ``root/meltano.yml`` (the repository's, relative ``pip_url``s made absolute) and
returns a :class:`MeltanoProject` whose system directory (plugin venvs) is :data:`SYS_DIR`,
``.tmp/meltano-test/.meltano`` (``MELTANO_TEST_CACHE`` moves it). :meth:`MeltanoProject.install` runs
``meltano install`` under a lock, and only when the cache's stamp differs from :func:`install_key` (the
project yml, every package's pyproject.toml, the Python version): the taps are editable installs, so code
changes need no reinstall.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from bench.procs import REPO, VENV_BIN, clean_env

CACHE = Path(os.environ.get("MELTANO_TEST_CACHE", REPO / ".tmp" / "meltano-test"))
SYS_DIR = CACHE / ".meltano"
MELTANO = shutil.which("meltano", path=str(VENV_BIN)) or shutil.which("meltano") or "meltano"


def plugin_script(kind: str, name: str) -> str:
    """A plugin's console script from its Meltano plugin venv (the bench's project, else the repository's
    own after ``make setup``), else from this environment. The plugin venv holds what a user's install
    of the plugin holds; this environment also holds dlt, Dagster and NumPy, which singer-sdk's import
    of joblib then loads too (0.15-0.35 s of the tap's start)."""
    for sys_dir in (SYS_DIR, REPO / ".meltano"):
        found = sys_dir / kind / name / "venv" / "bin" / name
        if found.exists():
            return str(found)
    return shutil.which(name, path=str(VENV_BIN)) or name


def project_yml() -> str:
    text = (REPO / "meltano.yml").read_text()
    return re.sub(r"(?<=[\s:])\./(?=[\w.-])", f"{REPO}/", text)


def install_key(meltano_yml: str) -> str:
    h = hashlib.sha256(meltano_yml.encode())
    for pyproject in sorted(REPO.glob("*/*/pyproject.toml")):
        h.update(pyproject.read_bytes())
    h.update(sys.version.encode())
    h.update(b"bytecode compiled")  # installs before that had none
    return h.hexdigest()


class MeltanoProject:
    """A Meltano project directory ``root`` (its meltano.yml already written) whose plugins are installed
    in ``sys_dir``; ``env`` is the environment its commands run in (``base_env`` and the project's
    variables, `dev` named as the Meltano environment, a developer's own tap, target and Meltano settings
    left out)."""

    def __init__(self, root: Path, sys_dir: Path = SYS_DIR, base_env: Mapping[str, str] | None = None):
        self.root = root
        self.sys_dir = sys_dir
        self.env: dict[str, str] = {
            **clean_env(base_env),
            "MELTANO_SYS_DIR_ROOT": str(sys_dir),
            "MELTANO_PROJECT_ROOT": str(root),
            # The sandboxes' environment, named: the project's default is prod (the real APIs).
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_CLI_LOG_LEVEL": "info",
            "NO_COLOR": "1",
        }

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``meltano *args`` in the project, its output captured as text."""
        return subprocess.run(
            [MELTANO, *args],
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )

    def installed(self) -> bool:
        stamp = self.sys_dir / ".installed"
        return stamp.exists() and stamp.read_text() == install_key((self.root / "meltano.yml").read_text())

    def install(self) -> None:
        """``meltano install``, once per change of what it installs, whatever the number of processes."""
        self.sys_dir.mkdir(parents=True, exist_ok=True)
        with open(self.sys_dir / ".install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.installed():
                return
            result = self.run(
                "install",
                # Bytecode compiled at install (the machines set PYTHONDONTWRITEBYTECODE): without it
                # every plugin start recompiles its imports, 1.4 s of a bulk loader's 4.7 s run.
                env={
                    "MELTANO_DATABASE_URI": f"sqlite:///{self.sys_dir}/install.db",
                    "UV_COMPILE_BYTECODE": "1",
                },
                timeout=1200,
            )
            if result.returncode != 0:
                raise RuntimeError(f"meltano install failed:\n{result.stdout}\n{result.stderr}")
            (self.sys_dir / ".installed").write_text(install_key((self.root / "meltano.yml").read_text()))


def create(root: Path, sys_dir: Path = SYS_DIR, base_env: Mapping[str, str] | None = None) -> MeltanoProject:
    """A new project in ``root`` from the repository's meltano.yml (not installed yet)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "meltano.yml").write_text(project_yml())
    return MeltanoProject(root, sys_dir, base_env)
