"""End to end: ``meltano run tap-projects target-duckdb-bulk`` (and the stock ``target-duckdb``) and
``python -m dlt_sources projects`` into DuckDB, and what each loaded.

Meltano runs in a temporary project made from the repository's meltano.yml (relative pip_urls made
absolute) whose plugins live in the tests' shared cache (``.tmp/meltano-test/.meltano``, the same
install key and lock as tests/conftest.py), so the bench and ``make test`` install plugins once
between them. ``meltano install`` happens outside the timing, and only when that cache is stale.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import sys
from pathlib import Path

from bench.procs import API_KEY, REPO, ChildRun, child_env, run_child, venv_script

CACHE = Path(os.environ.get("MELTANO_TEST_CACHE", REPO / ".tmp" / "meltano-test")) / ".meltano"


def project_yml() -> str:
    text = (REPO / "meltano.yml").read_text()
    return re.sub(r"(?<=[\s:])\./(?=[\w.-])", f"{REPO}/", text)


def install_key(meltano_yml: str) -> str:
    h = hashlib.sha256(meltano_yml.encode())
    for pyproject in sorted(REPO.glob("*/pyproject.toml")):
        h.update(pyproject.read_bytes())
    h.update(sys.version.encode())
    h.update(b"bytecode compiled")  # installs before that had none
    return h.hexdigest()


class MeltanoProject:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.yml = project_yml()
        (root / "meltano.yml").write_text(self.yml)
        self.env = child_env(
            MELTANO_SYS_DIR_ROOT=str(CACHE),
            MELTANO_PROJECT_ROOT=str(root),
            MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
            NO_COLOR="1",
        )

    def installed(self) -> bool:
        stamp = CACHE / ".installed"
        return stamp.exists() and stamp.read_text() == install_key(self.yml)

    def install(self) -> None:
        """``meltano install`` into the shared cache unless it is current (untimed)."""
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(CACHE / ".install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.installed():
                return
            env = {
                **self.env,
                "MELTANO_DATABASE_URI": f"sqlite:///{CACHE}/install.db",
                "UV_COMPILE_BYTECODE": "1",
            }
            result = run_child([venv_script("meltano"), "install"], env=env, cwd=self.root, timeout=1200)
            result.check("meltano install")
            (CACHE / ".installed").write_text(install_key(self.yml))

    def run(
        self, base_url: str, workdir: Path, loader: str = "target-duckdb", catalog: Path | None = None
    ) -> tuple[ChildRun, Path]:
        """``meltano run tap-projects <loader>``; with ``catalog``, Meltano is given the tap's catalog (the
        ``catalog`` extra) instead of discovering it before the run, as it reuses its cached discovery
        when a project's config does not change between runs (the bench's port does)."""
        workdir.mkdir(parents=True, exist_ok=True)
        db = workdir / "meltano.duckdb"
        env = {
            **({"TAP_PROJECTS__CATALOG": str(catalog)} if catalog is not None else {}),
            **self.env,
            "MELTANO_DATABASE_URI": f"sqlite:///{workdir}/meltano.db",
            f"{loader.upper().replace('-', '_')}_FILEPATH": str(db),
            "TAP_PROJECTS_BASE_URL": base_url,
            "TAP_PROJECTS_API_KEY": API_KEY,
        }
        argv = [venv_script("meltano"), "run", "tap-projects", loader]
        return run_child(argv, env=env, cwd=self.root, stdout=workdir / "meltano.out"), db


def run_dlt(base_url: str, workdir: Path) -> tuple[ChildRun, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "dlt.duckdb"
    argv = [
        sys.executable,
        "-m",
        "dlt_sources",
        "projects",
        "--base-url",
        base_url,
        "--duckdb-file",
        str(db),
        "--pipelines-dir",
        str(workdir / "pipelines"),
        "--pipeline-name",
        "bench_e2e",
        "-q",
    ]
    env = child_env(SOURCES__PROJECTS__API_KEY=API_KEY)
    return run_child(argv, env=env, cwd=REPO, stdout=workdir / "dlt.out"), db


def loaded_ids(db: Path, schema: str, tables: list[str]) -> dict[str, list]:
    """Ids per table (an absent table: an empty list), read-only: never upgrade the file's format."""
    import duckdb

    found: dict[str, list] = {}
    if not db.exists():
        return {t: [] for t in tables}
    con = duckdb.connect(str(db), read_only=True)
    try:
        present = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
            ).fetchall()
        }
        for table in tables:
            if table in present:
                found[table] = [r[0] for r in con.execute(f'SELECT id FROM "{schema}"."{table}"').fetchall()]
            else:
                found[table] = []
    finally:
        con.close()
    return found
