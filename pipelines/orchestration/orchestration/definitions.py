"""The Dagster code location: `dagster dev -m orchestration.definitions` (the dlt variant is its own code
location, `orchestration.dlt_definitions`, so Meltano runs never pay for importing dlt).

Per API: one multi-asset (an asset per stream) partitioned by account, in a pool named `api_<api>`; a job
`<api>_accounts` whose runs carry `rest-taps/account: <api>/<account>` (for run-queue limits); a daily
schedule asking for one run per account. Everything comes from the accounts file and the environment
(pipelines/orchestration/orchestration/settings.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from dagster import (
    AssetsDefinition,
    DefaultScheduleStatus,
    Definitions,
    PartitionedConfig,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from orchestration.accounts import Api, load_accounts
from orchestration.meltano_assets import MeltanoResource, meltano_assets, partitions_for, retry_policy
from orchestration.settings import Settings

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

DAILY_AT = "0 3 * * *"  # 03:00 in the schedule's timezone (UTC unless set)


def accounts_job(api: Api, assets: AssetsDefinition) -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        f"{api.name}_accounts",
        selection=[assets],
        config=PartitionedConfig(
            partitions_def=partitions_for(api),
            run_config_for_partition_key_fn=lambda key: {},
            tags_for_partition_key_fn=lambda key: api.account(key).run_tags,
        ),
        description=f"Sync one {api.name} account (a partition) with meltano run.",
    )


def daily_schedule(api: Api, job: UnresolvedAssetJobDefinition) -> ScheduleDefinition:
    @schedule(
        name=f"{api.name}_daily",
        cron_schedule=DAILY_AT,
        job=job,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Every {api.name} account once a day, one run each.",
    )
    def every_account(context: ScheduleEvaluationContext) -> Iterator[RunRequest]:
        day = (
            context.scheduled_execution_time.strftime("%Y-%m-%d") if context.scheduled_execution_time else ""
        )
        for account in api.accounts:
            yield RunRequest(
                run_key=f"{api.name}/{account.name}/{day}",
                partition_key=account.name,
                tags=account.run_tags,
            )

    return every_account


def build_definitions(settings: Settings | None = None) -> Definitions:
    settings = settings or Settings.from_env()
    accounts = load_accounts(settings.accounts_path)
    assets, jobs, schedules = [], [], []
    for api in accounts.apis.values():
        if not api.accounts:
            continue
        asset = meltano_assets(api, settings.warehouse, retry_policy(settings.retry_delay))
        job = accounts_job(api, asset)
        assets.append(asset)
        jobs.append(job)
        schedules.append(daily_schedule(api, job))
    return Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        resources={
            "meltano": MeltanoResource(
                project_root=str(settings.project_root),
                loader=settings.loader,
                duckdb_dir=str(settings.duckdb_dir),
                catalog_dir=str(settings.catalog_dir or ""),
            )
        },
    )


defs = build_definitions()
