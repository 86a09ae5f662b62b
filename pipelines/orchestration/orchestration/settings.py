"""Where things are and which warehouse: read from the environment when the code location loads.

| variable | default | what |
|---|---|---|
| `REST_TAPS_ACCOUNTS` | `accounts.yml` in the Meltano project | the accounts file |
| `MELTANO_PROJECT_ROOT` | the working directory or its nearest parent with a meltano.yml | the project |
| `REST_TAPS_WAREHOUSE` | `duckdb` | `duckdb` (one file per account) or `postgres` |
| `REST_TAPS_DUCKDB_DIR` | `output/accounts` in the project | where the per-account DuckDB files go |
| `REST_TAPS_POSTGRES_LOADER` | `target-postgres-bulk` | the Meltano loader for `postgres` |
| `REST_TAPS_CATALOG_DIR` | unset | catalogs `tap-<api>.json` (`python -m orchestration.catalogs DIR`) |
| `MELTANO_DATABASE_URI` | SQLite in `.meltano/` | Meltano's system database (state); PostgreSQL to share |
| `MELTANO_ENVIRONMENT` | meltano.yml's `default_environment` (`prod`) | every run's Meltano environment |
| `REST_TAPS_RETRY_DELAY_SECONDS` | `30` | wait before a failed sync's first retry (twice that: second) |

The loaders are this repository's bulk loaders (`target-duckdb-bulk`, `target-postgres-bulk`). The
PostgreSQL loader's connection comes from Meltano's own variables for it (`TARGET_POSTGRES_BULK_HOST`,
`_PORT`, `_USER`, `_PASSWORD`, `_DATABASE`); the dlt variant's from dlt's
(`DESTINATION__POSTGRES__CREDENTIALS`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def project_root() -> Path:
    """The Meltano project: `MELTANO_PROJECT_ROOT`, else the working directory or its nearest parent that
    holds a `meltano.yml` (as Meltano itself finds it). Never the package's own location: installed as a
    wheel, the code location lives in site-packages, far from any project."""
    explicit = os.environ.get("MELTANO_PROJECT_ROOT")
    if explicit:
        return Path(explicit)
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / "meltano.yml").is_file():
            return directory
    raise RuntimeError(
        f"no Meltano project: {here} and its parents hold no meltano.yml; set MELTANO_PROJECT_ROOT"
    )


# The Meltano loader for the PostgreSQL warehouse: one name, so switching loaders is one line
# (or REST_TAPS_POSTGRES_LOADER=... without a code change).
POSTGRES_LOADER = "target-postgres-bulk"
DUCKDB_LOADER = "target-duckdb-bulk"
WAREHOUSES = ("duckdb", "postgres")
# Every process a deployment or a run starts: what it creates (Meltano's plugin configs with the key inside,
# BATCH files, Dagster's logs) is for its user alone.
RUN_UMASK = 0o077


def default_environment(project: Path) -> str:
    """The project's `default_environment` (meltano.yml), else `prod`."""
    import yaml

    try:
        data = yaml.safe_load((project / "meltano.yml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        data = None
    value = data.get("default_environment") if isinstance(data, dict) else None
    return str(value) if value else "prod"


def default_accounts_path() -> Path:
    explicit = os.environ.get("REST_TAPS_ACCOUNTS")
    if explicit:
        return Path(explicit)
    return project_root() / "accounts.yml"


def retry_delay() -> float:
    text = os.environ.get("REST_TAPS_RETRY_DELAY_SECONDS", "30")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"REST_TAPS_RETRY_DELAY_SECONDS={text!r}: expected a number of seconds, 0 or more")
    return value


@dataclass(frozen=True)
class Settings:
    accounts_path: Path
    project_root: Path
    warehouse: str
    duckdb_dir: Path
    postgres_loader: str
    catalog_dir: Path | None = None
    retry_delay: float = 30.0

    @property
    def loader(self) -> str:
        return self.postgres_loader if self.warehouse == "postgres" else DUCKDB_LOADER

    @classmethod
    def from_env(cls) -> Settings:
        project = project_root()
        warehouse = os.environ.get("REST_TAPS_WAREHOUSE", "duckdb")
        if warehouse not in WAREHOUSES:
            raise ValueError(f"REST_TAPS_WAREHOUSE={warehouse!r}: expected one of {', '.join(WAREHOUSES)}")
        return cls(
            accounts_path=default_accounts_path(),
            project_root=project,
            warehouse=warehouse,
            duckdb_dir=Path(os.environ.get("REST_TAPS_DUCKDB_DIR") or project / "output" / "accounts"),
            postgres_loader=os.environ.get("REST_TAPS_POSTGRES_LOADER") or POSTGRES_LOADER,
            catalog_dir=Path(catalogs) if (catalogs := os.environ.get("REST_TAPS_CATALOG_DIR")) else None,
            retry_delay=retry_delay(),
        )
