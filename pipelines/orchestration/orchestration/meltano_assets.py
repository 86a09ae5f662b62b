"""One multi-asset per API (one asset per stream), partitioned by account, each partition one `meltano run`
through Dagster Pipes.

The op opens a Pipes session (`open_pipes_session`, what `PipesSubprocessClient` does, kept open so that a
failed run still hands back its error line) and starts `python -m orchestration.pipes_meltano`, which runs
`meltano run tap-<api>--<account> <loader>` and reports rows per stream. Meltano keeps the state under the
account's own state id in its system database (`MELTANO_DATABASE_URI`): with PostgreSQL there, a run on any
machine resumes where a run on another stopped.
"""

import importlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    Backoff,
    ConfigurableResource,
    DagsterExecutionInterruptedError,
    Failure,
    MaterializeResult,
    PipesTempFileContextInjector,
    PipesTempFileMessageReader,
    RetryPolicy,
    StaticPartitionsDefinition,
    multi_asset,
    open_pipes_session,
)
from dagster import AssetsDefinition as DagsterAssets

from orchestration.accounts import Account, Api, MissingKeyError
from orchestration.settings import DUCKDB_LOADER

# Failures that a retry cannot mend: the key or the configuration is wrong.
NOT_RETRYABLE = re.compile(
    r"HTTP 40[13]\b|invalid config|is not set|not known to Meltano|could not find", re.I
)
RETRY_POLICY = RetryPolicy(max_retries=2, delay=30, backoff=Backoff.EXPONENTIAL)
TERMINATION_TIMEOUT_S = 60


def plugin_env(plugin: str, setting: str) -> str:
    """Meltano's environment variable for a plugin's setting or extra: `target-duckdb-bulk`, `filepath` ->
    `TARGET_DUCKDB_BULK_FILEPATH`; `tap-crm--acme`, `_catalog` -> `TAP_CRM__ACME__CATALOG`."""
    return f"{plugin}_{setting}".upper().replace("-", "_")


def stream_names(api: str) -> list[str]:
    """The tap's streams, in its order (the taps are the source of truth for what they sync)."""
    if api not in ("crm", "projects", "leads"):
        raise ValueError(f"unknown API {api!r}")
    module = importlib.import_module(f"tap_{api}.streams")
    return [str(stream.name) for stream in module.STREAMS]


def partitions_for(api: Api) -> StaticPartitionsDefinition:
    return StaticPartitionsDefinition([account.name for account in api.accounts])


class MeltanoResource(ConfigurableResource):
    """Runs an account's Meltano pipeline through Pipes. Holds paths and names, never a key."""

    project_root: str
    loader: str
    duckdb_dir: str
    environment: str | None = None  # Meltano environment; None: MELTANO_ENVIRONMENT or the project default
    catalog_dir: str = ""  # tap-<api>.json catalogs given to Meltano instead of discovery per run
    full_refresh: bool = False

    def state_id(self, account: Account) -> str:
        environment = self.environment or os.environ.get("MELTANO_ENVIRONMENT") or "dev"
        return f"{environment}:{account.extractor}-to-{self.loader}"

    def run_env(self, account: Account) -> dict[str, str]:
        env = {"NO_COLOR": "1", "MELTANO_PROJECT_ROOT": self.project_root}
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        if self.environment:
            env["MELTANO_ENVIRONMENT"] = self.environment
        if self.loader == DUCKDB_LOADER:
            # DuckDB takes one writer per file: one file per account, so accounts load side by side.
            Path(self.duckdb_dir).mkdir(parents=True, exist_ok=True)
            env[plugin_env(DUCKDB_LOADER, "filepath")] = str(
                Path(self.duckdb_dir) / f"meltano_{account.schema}.duckdb"
            )
        catalog = Path(self.catalog_dir) / f"tap-{account.api}.json" if self.catalog_dir else None
        if catalog is not None and catalog.is_file():
            # Meltano's `catalog` extra: the tap is not asked to discover its streams on every run.
            env[plugin_env(account.extractor, "_catalog")] = str(catalog.resolve())
        return env

    def sync(
        self, context: AssetExecutionContext, account: Account, specs: Sequence[AssetSpec]
    ) -> Iterator[MaterializeResult]:
        try:
            account.api_key()  # present? (the value stays in the environment; Meltano expands it)
        except MissingKeyError as exc:
            raise Failure(description=str(exc), allow_retries=False) from None
        state_id = self.state_id(account)
        extras: dict[str, Any] = {
            "extractor": account.extractor,
            "executable": f"tap-{account.api}",
            "loader": self.loader,
            "full_refresh": self.full_refresh,
            "state_id": state_id,
            "assets": {spec.key.path[-1]: spec.key.to_user_string() for spec in specs},
        }
        with open_pipes_session(
            context=context,
            context_injector=PipesTempFileContextInjector(),
            message_reader=PipesTempFileMessageReader(),
            extras=extras,
        ) as session:
            proc = subprocess.Popen(
                [sys.executable, "-m", "orchestration.pipes_meltano"],
                cwd=self.project_root,
                env={**os.environ, **self.run_env(account), **session.get_bootstrap_env_vars()},
                stdin=subprocess.DEVNULL,
            )
            try:
                code = proc.wait()
            except DagsterExecutionInterruptedError:
                context.log.info(f"{account.label}: run interrupted; stopping meltano (its state is kept)")
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=TERMINATION_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                raise
        if code != 0:
            reports = [m for m in session.get_custom_messages() if isinstance(m, dict)]
            error = (reports[-1].get("error") if reports else "") or f"meltano exited with status {code}"
            raise Failure(
                description=f"{account.label}: {error}",
                metadata={"account": account.label, "meltano_state_id": state_id, "exit_status": code},
                allow_retries=not NOT_RETRYABLE.search(error),
            )
        for result in session.get_results():
            if isinstance(result, MaterializeResult):
                yield result


def meltano_assets(
    api: Api, warehouse: str, retry_policy: RetryPolicy | None = RETRY_POLICY
) -> DagsterAssets:
    """The API's streams as one multi-asset, a partition per account, in the API's pool."""
    specs = [
        AssetSpec(
            key=[api.name, stream],
            group_name=api.name,
            description=f"The {stream} stream of the {api.name} API, one table per account (schema per "
            "account), loaded by meltano run.",
            kinds={"meltano", warehouse},
            tags={"rest-taps/api": api.name},
        )
        for stream in stream_names(api.name)
    ]

    @multi_asset(
        name=f"{api.name}_meltano",
        specs=specs,
        partitions_def=partitions_for(api),
        pool=api.pool,
        retry_policy=retry_policy,
        op_tags={"rest-taps/api": api.name},
        can_subset=False,
    )
    def sync(context: AssetExecutionContext, meltano: MeltanoResource) -> Iterator[MaterializeResult]:
        yield from meltano.sync(context, api.account(context.partition_key), specs)

    return sync
