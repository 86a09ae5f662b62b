"""7. Many accounts through Dagster: 3 APIs x 4 accounts, each account its own sandbox (own key, own seed,
50 ms per response, pages clamped to 20 records), every partition one run of `meltano run` through Pipes
into that account's DuckDB file (the bulk loader, target-duckdb-bulk), Meltano's state in PostgreSQL. The
taps' catalogs are discovered once before the timing and handed to every run (REST_TAPS_CATALOG_DIR).
The same 12 runs with Dagster's run queue at 1 and at 4 runs at a time (`dagster dev`, runs submitted over
GraphQL, launched by its daemon).

Each key is taken to allow one request at a time (the tap's `max_concurrency: 1` per account): an API's
rate limit per key is what makes one account's sync slow, and what running accounts side by side is for.
Every id of every table of every account is checked against its sandbox after each round.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import yaml

from bench import e2e, meltano_project
from bench.procs import REPO, child_env
from bench.results import Delivery, Report, Row, log

ACCOUNTS_PER_API = 4
RECORDS = {"crm": 2500, "projects": 4000, "leads": 10000}  # ~1,000 requests per account
SMALL_RECORDS = {"crm": 60, "projects": 60, "leads": 200}
LATENCY_MS = 50
PAGE_CLAMP = 20
WORKERS = (1, 4)
# One step per run: run it in the run worker itself.
IN_PROCESS: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}


def accounts_data() -> dict[str, Any]:
    return {
        "apis": {
            api: {
                "max_parallel": ACCOUNTS_PER_API,
                "accounts": [
                    {"name": f"a{n}", "api_key_env": f"BENCH_{api.upper()}_A{n}_KEY", "schema": f"{api}_a{n}"}
                    for n in range(1, ACCOUNTS_PER_API + 1)
                ],
            }
            for api in RECORDS
        }
    }


def loaded_ids(path: Path, schema: str, tables: list[str]) -> dict[str, list[Any]]:
    return e2e.loaded_ids(path, schema, tables)


def bench_orchestrated(report: Report, tmp: Path, small: bool) -> None:
    sys_path_tests = str(REPO / "tests")
    import sys

    if sys_path_tests not in sys.path:
        sys.path.insert(0, sys_path_tests)
    import pg as pgserver

    from account_sandboxes import account_sandboxes
    from orchestration.accounts import parse_accounts
    from orchestration.catalogs import write_catalogs
    from orchestration.local import DagsterDev, set_pool_limits
    from orchestration.meltano_plugins import INCLUDE_PATH, render

    records = SMALL_RECORDS if small else RECORDS
    n_accounts = ACCOUNTS_PER_API * len(records)
    benchmark = (
        f"7. orchestrated: {len(records)} APIs x {ACCOUNTS_PER_API} accounts, {LATENCY_MS} ms per response, "
        "meltano run per partition via Dagster"
    )
    log(benchmark)
    dsn = os.environ.get("TEST_PG_DSN")
    server = None
    if not dsn:
        if pgserver.find_pg_bin() is None:
            report.rows.append(Row(benchmark, "all", figure="n/a (no PostgreSQL for Meltano's state)"))
            return
        server = pgserver.LocalPostgres()
        dsn = server.start()
    try:
        accounts_path = tmp / "orch-accounts.yml"
        accounts_path.write_text(yaml.safe_dump(accounts_data()))
        accounts = parse_accounts(yaml.safe_load(accounts_path.read_text()), accounts_path)
        project = meltano_project.create(tmp / "orch-project", base_env=child_env())
        (project.root / INCLUDE_PATH).parent.mkdir(parents=True, exist_ok=True)
        (project.root / INCLUDE_PATH).write_text(render(accounts))
        if not project.installed():
            log(f"  meltano install into {meltano_project.SYS_DIR} (once, not timed) ...")
            project.install()
        # Each tap's catalog, discovered once (not timed): the runs hand it to Meltano, no discovery per run.
        log("  the taps' catalogs (once, not timed) ...")
        catalogs = tmp / "orch-catalogs"
        write_catalogs(
            catalogs, project.root, {**project.env, "MELTANO_DATABASE_URI": f"sqlite:///{tmp}/catalogs.db"}
        )
        walls: dict[int, float] = {}
        with account_sandboxes(accounts, records, LATENCY_MS, max_page_size=PAGE_CLAMP) as sandboxes:
            truths = {item.account.label: item.sandbox.truth() for item in sandboxes}
            for workers in WORKERS:
                meltano_db = pgserver.create_database(dsn, f"bench_orch_meltano_{workers}")
                duckdb_dir = tmp / f"orch-duckdb-{workers}"
                env = {
                    **project.env,
                    **child_env(),
                    "MELTANO_PROJECT_ROOT": str(project.root),
                    "MELTANO_SYS_DIR_ROOT": str(meltano_project.SYS_DIR),
                    "MELTANO_DATABASE_URI": meltano_db,
                    "MELTANO_ENVIRONMENT": "dev",
                    "REST_TAPS_ACCOUNTS": str(accounts_path),
                    "REST_TAPS_WAREHOUSE": "duckdb",
                    "REST_TAPS_DUCKDB_DIR": str(duckdb_dir),
                    "REST_TAPS_CATALOG_DIR": str(catalogs),
                }
                for item in sandboxes:
                    env.update(item.env())
                    env[f"{item.account.extractor.upper().replace('-', '_')}_MAX_CONCURRENCY"] = "1"
                load = os.getloadavg()[0]
                with DagsterDev(tmp / f"orch-dagster-{workers}", env, workers) as dev:
                    os.environ["DAGSTER_HOME"] = str(dev.home)
                    set_pool_limits(accounts)
                    started = time.monotonic()
                    outcomes = dev.materialize(accounts.all(), run_config=IN_PROCESS)
                    walls[workers] = time.monotonic() - started
                failed = [o for o in outcomes if o.status != "SUCCESS"]
                for outcome in failed:
                    report.errors.append(f"{benchmark}: {outcome.account.label} failed: {outcome.error}")
                got = total = 0
                wrong = []
                for item in sandboxes:
                    truth = truths[item.account.label]
                    have = loaded_ids(
                        duckdb_dir / f"meltano_{item.account.schema}.duckdb", item.account.schema, list(truth)
                    )
                    for table, ids in truth.items():
                        total += len(ids)
                        got += len(have.get(table, []))
                        if sorted(map(str, have.get(table, []))) != sorted(map(str, ids)):
                            wrong.append(f"{item.account.label}.{table}")
                note = f"(differing: {', '.join(wrong[:8])})" if wrong else ""
                name = f"{workers} run{'s' if workers > 1 else ''} at a time"
                d = report.deliver(
                    Delivery(
                        benchmark, name, "run 1", got, total, ids_checked=True, ids_match=not wrong, note=note
                    )
                )
                per_run = sorted(o.seconds for o in outcomes if o.seconds is not None)
                median = per_run[len(per_run) // 2] if per_run else 0.0
                report.rows.append(
                    Row(
                        benchmark,
                        name,
                        f"{d.got:,}/{d.truth:,} ids ✓" if d.ok else f"LOST or WRONG {note}",
                        f"{walls[workers]:.1f} s",
                        f"{n_accounts} runs, {len(failed)} failed; median run {median:.1f} s; "
                        f"load average {load:.1f} at the start",
                    )
                )
                log(f"  {name:<20} {walls[workers]:7.1f} s  {got:,}/{total:,} rows  load avg {load:.1f}")
        ratio = walls[WORKERS[0]] / walls[WORKERS[-1]]
        report.target(
            benchmark,
            f"{WORKERS[-1]} runs at a time vs {WORKERS[0]}: speed-up",
            ratio,
            f"{ratio:.2f}x",
            "≥ 3x",
            ratio >= 3,
        )
    finally:
        if server is not None:
            server.stop()
