"""One multi-asset per API (one asset per stream), partitioned by account, each partition one `meltano run`
through Dagster Pipes.

The op opens a Pipes session (`open_pipes_session`, what `PipesSubprocessClient` does, kept open so that a
failed run still hands back its error line) and starts `python -m orchestration.pipes_meltano`, which runs
`meltano run tap-<api>--<account> <loader>` and reports rows per stream. Meltano keeps the state under the
account's own state id in its system database (`MELTANO_DATABASE_URI`): with PostgreSQL there, a run on any
machine resumes where a run on another stopped.

The Pipes process (and so Meltano, the tap and the loader) gets an environment built from an allow-list
(`run_env`), never the deployment's whole environment: the system's basics, Meltano's own variables, this
account's key variable and extractor variables, the base tap's non-secret settings and the chosen loader's
variables. It runs with umask 077, so what Meltano writes (`.meltano/run/<plugin>/*.config.json`, key
inside) is readable by its user alone.
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

from orchestration.accounts import (
    ACCOUNT_TAG,
    Account,
    Api,
    MissingKeyError,
    meltano_variables,
    setting_names,
)
from orchestration.settings import DUCKDB_LOADER, POSTGRES_LOADER, RUN_UMASK, default_environment

# Failures that a retry cannot mend: the key or the configuration is wrong.
NOT_RETRYABLE = re.compile(
    r"HTTP 40[13]\b|invalid config|is not set|not known to Meltano|could not find", re.I
)
# Loaders whose variables must not reach a run of another (the project's bulk loaders and the stock ones).
KNOWN_LOADERS = (DUCKDB_LOADER, POSTGRES_LOADER, "target-duckdb", "target-postgres", "target-jsonl")
RETRY_DELAY_S = 30.0  # REST_TAPS_RETRY_DELAY_SECONDS


def retry_policy(delay: float = RETRY_DELAY_S) -> RetryPolicy:
    """2 retries, `delay` then twice that (30 s, 60 s by default)."""
    return RetryPolicy(max_retries=2, delay=delay, backoff=Backoff.EXPONENTIAL)


RETRY_POLICY = retry_policy()
TERMINATION_TIMEOUT_S = 60
# What a run's processes take from the deployment's environment, by name: the system's basics (paths,
# locale, time zone, temp dir, certificates, proxies) and Meltano's own variables. Another plugin's
# settings Meltano would read (MELTANO_EXTRACT_*, MELTANO_LOAD_*, ...) are not Meltano's own.
SYSTEM_VARIABLES = re.compile(
    r"PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|TEMP|TMP|"
    r"SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|"
    r"(?i:https?_proxy|no_proxy)|"
    r"MELTANO_(?!EXTRACT_|LOAD_|EXTRACTOR_|LOADER_|TRANSFORM_|TRANSFORMER_|UTILITY_|MAPPER_|MAP_)[A-Z0-9_]+"
)


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
    environment: str | None = None  # Meltano environment; None: MELTANO_ENVIRONMENT or the project's default
    catalog_dir: str = ""  # tap-<api>.json catalogs given to Meltano instead of discovery per run
    full_refresh: bool = False

    def meltano_environment(self) -> str:
        """The Meltano environment the runs use, always named to Meltano (so the state id is known)."""
        return (
            self.environment
            or os.environ.get("MELTANO_ENVIRONMENT")
            or default_environment(Path(self.project_root))
        )

    def state_id(self, account: Account) -> str:
        return account.state_id(self.meltano_environment(), self.loader)

    def passed_env(self, account: Account, environ: dict[str, str] | None = None) -> dict[str, str]:
        """The deployment's variables this account's run may have: the allow-list (SYSTEM_VARIABLES), the
        account's key variable and its extractor's variables (`TAP_CRM__ACME_*`), the base tap's settings
        but its key (`TAP_CRM_MAX_RETRIES`, ... apply to every account), and the chosen loader's variables
        (`TARGET_POSTGRES_BULK_*`). No other account's key, no other loader's password."""
        environ = dict(os.environ if environ is None else environ)
        settings = setting_names(account.api)
        # By exact name: account acme_eu's TAP_CRM__ACME_EU_* begin with acme's prefix too.
        tap = set(meltano_variables(account.env_prefix, settings))
        tap |= set(meltano_variables(f"TAP_{account.api}", [s for s in settings if s != "api_key"]))
        loader = plugin_env(self.loader, "")
        # The stock target-postgres's prefix TARGET_POSTGRES_ also begins target-postgres-bulk's variables.
        others = tuple(
            prefix
            for other in KNOWN_LOADERS
            if other != self.loader and (prefix := plugin_env(other, "")).startswith(loader)
        )
        return {
            name: value
            for name, value in environ.items()
            if SYSTEM_VARIABLES.fullmatch(name)
            or name == account.api_key_env
            or name in tap
            or (name.startswith(loader) and not name.startswith(others or ("\0",)))
        }

    def run_env(self, account: Account) -> dict[str, str]:
        """The whole environment of the account's Pipes process (Dagster's bootstrap variables aside)."""
        env = self.passed_env(account)
        env.update({"NO_COLOR": "1", "MELTANO_PROJECT_ROOT": self.project_root})
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        env["MELTANO_ENVIRONMENT"] = self.meltano_environment()
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
            # Meltano's lock on the state id outlives a killed run by minutes; taken over only when
            # Dagster knows no other run of this partition to be going (an earlier attempt has ended).
            "force": not other_runs_going(context, account),
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
                env={**self.run_env(account), **session.get_bootstrap_env_vars()},
                stdin=subprocess.DEVNULL,
                umask=RUN_UMASK,
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


def other_runs_going(context: AssetExecutionContext, account: Account) -> list[str]:
    """Ids of the Dagster runs, other than this one, of this account's partition that have not finished
    (queued runs included: they may start any moment). A run of another API's partition of the same name
    does not count; a run Dagster cannot tell apart does (never force on a doubt)."""
    from dagster import RunsFilter
    from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

    records = context.instance.get_run_records(
        RunsFilter(tags={"dagster/partition": account.name}, statuses=NOT_FINISHED_STATUSES)
    )
    going = []
    for record in records:
        run = record.dagster_run
        if run.run_id == context.run.run_id:
            continue
        if run.tags.get(ACCOUNT_TAG, account.label) != account.label:
            continue  # another API's account of the same name
        apis = {key.path[0] for key in run.asset_selection or ()}
        if run.job_name.endswith("_accounts"):
            apis.add(run.job_name.removesuffix("_accounts"))
        if apis and account.api not in apis:
            continue
        going.append(run.run_id)
    return going


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
