"""Fixtures for tests that cross packages: a ready Meltano project, PostgreSQL, and warehouse readers.

- `meltano_project` (session): the repository's meltano.yml in a temp project dir, plugins installed once
  into a cache shared by sessions, xdist workers and the bench (`.tmp/meltano-test/`, reinstalled only when
  meltano.yml or a package's pyproject.toml changes; the taps are editable installs, so code changes need
  no reinstall): `bench.meltano_project`, the one definition of that project.
- `meltano_run` (function): `meltano_run("run", "tap-crm", "target-duckdb", env={...})` runs meltano in
  that project with a per-test system database (state), `.meltano` run dir (plugin venvs linked from the
  cache), DuckDB file and JSONL directory; returns the
  CompletedProcess (stdout and stderr captured as text). `meltano_run.duckdb_path`, `.jsonl_dir`,
  `.env` tell where things go.
- `postgres` (session): a DSN of a server: TEST_PG_DSN when set (.ci/run sets it), else a server started
  from the local binaries; skipped when there are none, failed instead when CI=true.
- `pg_database` (function): a fresh, empty database on that server; its DSN.
- `built_wheels` (session): `uv build --wheel` of every workspace member, once per test run however many
  xdist workers; {member directory: wheel path} (tests/dists.py).
- `duckdb_ids`, `postgres_ids`, `jsonl_ids` and `tap_env`, `target_postgres_env` (the bulk loader's too:
  `target_postgres_env(dsn, "target-postgres-bulk")`): plain functions, also
  importable with `from warehouse import ...`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bench.meltano_project import CACHE, MeltanoProject
from bench.meltano_project import create as create_project

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dists
import pg as pgserver
from warehouse import (
    duckdb_ids,
    jsonl_ids,
    postgres_ids,
    tap_env,
    target_postgres_env,
)

__all__ = ["MeltanoProject", "duckdb_ids", "jsonl_ids", "postgres_ids", "tap_env", "target_postgres_env"]

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
PLUGIN_DIRS = {"extractors", "loaders", "mappers", "utilities", "transformers", "orchestrators", "files"}


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory: pytest.TempPathFactory) -> MeltanoProject:
    project = create_project(tmp_path_factory.mktemp("meltano-project"))
    (project.root / "output").mkdir()
    project.install()
    return project


class MeltanoRunner:
    """Callable: `meltano_run(*meltano_args, env=...)`, isolated per test (state db, outputs)."""

    def __init__(self, project: MeltanoProject, workdir: Path):
        self.project = project
        self.workdir = workdir
        self.duckdb_path = workdir / "warehouse.duckdb"
        self.jsonl_dir = workdir / "jsonl"
        # Meltano writes each run's catalog and config under <sys dir>/run/<plugin>/, shared by every run
        # of that plugin: parallel tests would clobber each other's files. So each test gets its own sys
        # dir whose plugin directories are links to the installed venvs.
        sys_dir = workdir / ".meltano"
        sys_dir.mkdir()
        for child in project.sys_dir.iterdir():
            if child.is_dir() and child.name in PLUGIN_DIRS:
                (sys_dir / child.name).symlink_to(child, target_is_directory=True)
        self.sys_dir = sys_dir
        self.env = {
            "MELTANO_SYS_DIR_ROOT": str(sys_dir),
            "MELTANO_DATABASE_URI": f"sqlite:///{workdir}/meltano.db",
            "TARGET_DUCKDB_FILEPATH": str(self.duckdb_path),
            "TARGET_DUCKDB_BULK_FILEPATH": str(self.duckdb_path),
            "TARGET_JSONL_DESTINATION_PATH": str(self.jsonl_dir),
        }

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.project.run(*args, env={**self.env, **(env or {})}, timeout=timeout, input=input)


@pytest.fixture
def meltano_run(meltano_project: MeltanoProject, tmp_path: Path) -> MeltanoRunner:
    workdir = tmp_path / "meltano-run"
    workdir.mkdir()
    return MeltanoRunner(meltano_project, workdir)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a PostgreSQL server's `postgres` database (superuser, password set)."""
    dsn = os.environ.get("TEST_PG_DSN")
    if dsn:
        pgserver.wait_ready(dsn)
        yield dsn
        return
    if pgserver.find_pg_bin() is None:
        reason = "PostgreSQL binaries (initdb, pg_ctl) not found and TEST_PG_DSN not set"
        if IN_CI:
            pytest.fail(reason + " (CI=true: .ci/run should have installed and started PostgreSQL)")
        pytest.skip(reason + " (apt-get install postgresql, or set TEST_PG_DSN)")
    # Its own temp dir under /tmp: pytest's are private to root, and the server may run as `postgres`.
    server = pgserver.LocalPostgres()
    server.start()
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture
def pg_database(postgres: str) -> Iterator[str]:
    """DSN of a new empty database, so tests on one server never see each other's tables; dropped after."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield pgserver.create_database(postgres, name)
    pgserver.drop_database(postgres, name)


@pytest.fixture(scope="session")
def built_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every workspace member's wheel, built once into the run's temp root shared by the xdist workers."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    out = root / "wheels"
    with open(root / "wheels.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "wheels.done").exists():
            shutil.rmtree(out, ignore_errors=True)
            dists.build_wheels(out)
            (root / "wheels.done").touch()
    return {m.directory: w for m in dists.members() if (w := dists.wheel_path(out, m)) is not None}


def pytest_report_header(config: Any) -> str:
    return f"meltano plugin cache: {CACHE}; TEST_PG_DSN {'set' if os.environ.get('TEST_PG_DSN') else 'unset'}"
