"""The dlt variant as its own code location: `dagster dev -m orchestration.dlt_definitions` (or both
locations at once with `-w pipelines/orchestration/workspace.yaml`).

Per API one `@dlt_assets` over the dlt variant's sources (package dlt-sources), partitioned by the same
accounts; each partition loads with its own pipeline into the dataset `<schema>_dlt` (DuckDB: one file per
account beside the Meltano ones; PostgreSQL: credentials the dlt way, DESTINATION__POSTGRES__CREDENTIALS).
The key is read from the account's variable when the partition runs and handed to the source, never to
Dagster.
A separate location because importing dlt costs every run ~2 s that the Meltano runs need not pay.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
from dagster import AssetExecutionContext, AssetKey, AssetSpec, Definitions, Failure
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from dlt_sources import MODULES, SOURCES
from orchestration.accounts import Account, Api, MissingKeyError, load_accounts
from orchestration.meltano_assets import partitions_for
from orchestration.settings import Settings


class AccountTranslator(DagsterDltTranslator):
    """Asset keys dlt/<api>/<resource>, no upstream source assets."""

    def __init__(self, api: str) -> None:
        self.api = api

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(key=AssetKey(["dlt", self.api, data.resource.name]), deps=[])


def base_url(account: Account) -> str:
    """The account's URL: the accounts file's, else its Meltano extractor's override variable (so one
    variable points both variants at the same place), else the API document's."""
    variable = f"{account.extractor.upper().replace('-', '_')}_BASE_URL"
    return account.base_url or os.environ.get(variable) or str(MODULES[account.api].DEFAULT_BASE_URL)


def pipeline_for(account: Account, settings: Settings, pipelines_dir: Path) -> dlt.Pipeline:
    destination: Any
    if settings.warehouse == "postgres":
        destination = dlt.destinations.postgres()
    else:
        settings.duckdb_dir.mkdir(parents=True, exist_ok=True)
        destination = dlt.destinations.duckdb(
            credentials=str(settings.duckdb_dir / f"dlt_{account.schema}.duckdb")
        )
    return dlt.pipeline(
        pipeline_name=f"dlt_{account.api}_{account.name}",
        pipelines_dir=str(pipelines_dir),
        destination=destination,
        dataset_name=f"{account.schema}_dlt",
    )


def api_dlt_assets(api: Api, settings: Settings) -> Any:
    pipelines_dir = settings.project_root / "output" / "dlt_pipelines"
    template = api.accounts[0]

    @dlt_assets(
        # The source's shape (resources) for the asset specs; the real source is built per partition.
        dlt_source=SOURCES[api.name](api_key="set-per-partition", base_url=base_url(template)),
        dlt_pipeline=pipeline_for(template, settings, pipelines_dir),
        name=f"{api.name}_dlt",
        group_name=f"{api.name}_dlt",
        dagster_dlt_translator=AccountTranslator(api.name),
        partitions_def=partitions_for(api),
        pool=api.pool,
    )
    def load(context: AssetExecutionContext, dlt: DagsterDltResource) -> Iterator[Any]:
        account = api.account(context.partition_key)
        try:
            key = account.api_key()
        except MissingKeyError as exc:
            raise Failure(description=str(exc), allow_retries=False) from None
        yield from dlt.run(
            context=context,
            dlt_source=SOURCES[api.name](api_key=key, base_url=base_url(account)),
            dlt_pipeline=pipeline_for(account, settings, pipelines_dir),
        )

    return load


def build_dlt_definitions(settings: Settings | None = None) -> Definitions:
    settings = settings or Settings.from_env()
    accounts = load_accounts(settings.accounts_path)
    return Definitions(
        assets=[api_dlt_assets(api, settings) for api in accounts.apis.values() if api.accounts],
        resources={"dlt": DagsterDltResource()},
    )


defs = build_dlt_definitions()
