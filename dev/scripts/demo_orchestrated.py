"""`make demo-orchestrated`: every account of accounts.yml synced by Dagster, several runs at a time, into
PostgreSQL, with Meltano's state in PostgreSQL too.

1. one sandbox per account (3 per API), each with its own key and seed, standing in for the accounts' APIs;
2. PostgreSQL: DEMO_PG_DSN (or TEST_PG_DSN) when set, else a throwaway server from the local binaries
   (tests/pg.py); three databases on it: the warehouse, Meltano's system database (state), Dagster's storage;
3. `dagster dev -m orchestration.definitions` with a run queue of DEMO_WORKERS (default 4) runs;
4. one run per account partition, submitted to Dagster; its daemon launches them;
5. rows per account and table in the warehouse next to each sandbox's truth. Exit 1 on any difference.

`--ui` (DEMO_UI=1 with make) keeps everything running afterwards and prints the UI's address.

Everything it starts runs with umask 077 (Meltano's run configs, Dagster's instance file and logs are its
user's alone); no DSN is printed with its password.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "dev"))

import pg as pgserver  # noqa: E402  (tests/pg.py: a throwaway PostgreSQL server)
from warehouse import target_postgres_env  # noqa: E402  (TARGET_POSTGRES_BULK_HOST, ... from a DSN)

from account_sandboxes import AccountSandbox, account_sandboxes  # noqa: E402  (dev/account_sandboxes.py)
from orchestration.accounts import load_accounts  # noqa: E402
from orchestration.local import DagsterDev, set_pool_limits  # noqa: E402
from orchestration.settings import POSTGRES_LOADER  # noqa: E402

OUT = REPO / "output" / "demo-orchestrated"
DATABASES = {"warehouse": "rest_taps_demo_warehouse", "meltano": "rest_taps_demo_meltano"}
DAGSTER_DB = "rest_taps_demo_dagster"


def say(text: str = "") -> None:
    print(text, flush=True)


def shown(dsn: str) -> str:
    """The DSN without its password: `postgresql://user@host:port/db`."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    netloc = f"{parts.username + '@' if parts.username else ''}{host}{f':{parts.port}' if parts.port else ''}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def postgres(stack: ExitStack) -> str:
    dsn = os.environ.get("DEMO_PG_DSN") or os.environ.get("TEST_PG_DSN")
    if dsn:
        say(f"  reusing PostgreSQL at {shown(dsn)}")
        pgserver.wait_ready(dsn)
        return dsn
    if pgserver.find_pg_bin() is None:
        raise SystemExit("no PostgreSQL: set DEMO_PG_DSN, or install the server (apt-get install postgresql)")
    server = pgserver.LocalPostgres()
    dsn = server.start()
    stack.callback(server.stop)
    say(f"  started a throwaway PostgreSQL at {shown(dsn)}")
    return dsn


def clean_env() -> dict[str, str]:
    """This shell's environment without settings that would redirect the demo's runs."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("TAP_", "TARGET_", "DAGSTER_")) or key in {
            "MELTANO_DATABASE_URI",
            "MELTANO_ENVIRONMENT",
        }:
            del env[key]
    return env


def loaded(dsn: str, schema: str) -> dict[str, tuple[int, int]]:
    import psycopg2

    con = psycopg2.connect(dsn)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
            out = {}
            for (table,) in cur.fetchall():
                cur.execute(f'SELECT count(*), count(DISTINCT id) FROM "{schema}"."{table}"')
                rows, ids = cur.fetchone() or (0, 0)
                out[str(table)] = (int(rows), int(ids))
            return out
    finally:
        con.close()


def report(dsn: str, sandboxes: list[AccountSandbox], truths: dict[str, dict[str, list[Any]]]) -> int:
    header = f"{'api':<9} {'account':<9} {'table':<20} {'rows':>6} {'ids':>6} {'sandbox':>8}  ok"
    say(header)
    say("-" * len(header))
    mismatches = 0
    for item in sandboxes:
        account = item.account
        have = loaded(dsn, account.schema)
        for table, ids in truths[account.label].items():
            rows, distinct = have.get(table, (0, 0))
            ok = rows == distinct == len(ids)
            mismatches += not ok
            say(
                f"{account.api:<9} {account.name:<9} {table:<20} {rows:>6} {distinct:>6} {len(ids):>8}  "
                f"{'yes' if ok else 'NO'}"
            )
    return mismatches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=int(os.environ.get("DEMO_WORKERS", "4")))
    parser.add_argument("--records", type=int, default=200, help="records per paginated resource")
    parser.add_argument("--ui", action="store_true", default=os.environ.get("DEMO_UI") == "1")
    args = parser.parse_args(argv)
    started = time.monotonic()
    accounts = load_accounts(REPO / "accounts.yml")
    OUT.mkdir(parents=True, exist_ok=True)
    reused = bool(os.environ.get("DEMO_PG_DSN") or os.environ.get("TEST_PG_DSN"))
    with ExitStack() as stack:
        say("==> PostgreSQL (warehouse, Meltano's state, Dagster's storage)")
        server = postgres(stack)
        os.umask(0o077)  # the sandboxes, dagster dev and every run: files for this user alone
        dsns = {role: pgserver.create_database(server, name) for role, name in DATABASES.items()}
        dagster_dsn = pgserver.create_database(server, DAGSTER_DB)
        say(f"==> {len(accounts.all())} sandboxes, one per account (own key, own seed)")
        sandboxes = stack.enter_context(account_sandboxes(accounts, records=args.records))
        for item in sandboxes:
            say(f"  {item.account.label:<18} {item.sandbox.base_url:<32} key in ${item.account.api_key_env}")
        env = clean_env()
        for item in sandboxes:
            env.update(item.env())
        env.update(target_postgres_env(dsns["warehouse"], POSTGRES_LOADER))
        env.update(
            {
                "MELTANO_DATABASE_URI": dsns["meltano"],
                "REST_TAPS_WAREHOUSE": "postgres",
                "REST_TAPS_POSTGRES_LOADER": POSTGRES_LOADER,  # the loader the connection above is for
                "MELTANO_ENVIRONMENT": "dev",
                "NO_COLOR": "1",
            }
        )
        say(f"==> dagster dev (run queue: {args.workers} runs at a time, one per account)")
        dev = DagsterDev(OUT / "dagster_home", env, args.workers, postgres_url=dagster_dsn)
        stack.enter_context(dev)
        os.environ["DAGSTER_HOME"] = str(dev.home)
        set_pool_limits(accounts)
        say(f"  UI at {dev.url}; log in {dev.log_path.relative_to(REPO) if dev.log_path else '-'}")
        say(f"==> materializing {len(accounts.all())} partitions (one run each)")
        t0 = time.monotonic()
        # One step per run: it runs in the run's own process (the in-process executor), no second start.
        run_config: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}
        outcomes = dev.materialize(accounts.all(), run_config=run_config, progress=say)
        say(f"  all runs finished in {time.monotonic() - t0:.0f} s")
        failed = [o for o in outcomes if o.status != "SUCCESS"]
        for outcome in failed:
            say(f"  FAILED {outcome.account.label}: {outcome.error}")
        truths = {item.account.label: item.sandbox.truth() for item in sandboxes}
        say()
        mismatches = report(dsns["warehouse"], sandboxes, truths)
        tables = sum(len(t) for t in truths.values())
        rows = sum(len(ids) for t in truths.values() for ids in t.values())
        say()
        say(
            f"{len(outcomes)} runs ({len(failed)} failed), {tables} tables, {rows} rows, "
            f"{mismatches} mismatches, in {time.monotonic() - started:.0f} s"
        )
        where = (
            f"Warehouse: {shown(dsns['warehouse'])} (one schema per account: crm_acme, ...); Meltano state: "
        )
        where += f"{shown(dsns['meltano'])} (`meltano state list` with MELTANO_DATABASE_URI set to it)"
        if args.ui:
            say(where)
            stops = "the UI and the sandboxes" + ("" if reused else " and the throwaway PostgreSQL")
            say(f"\nDagster UI: {dev.url}  (Ctrl-C stops {stops})")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    # Said once everything has stopped, so that it is true.
    if reused:
        say("Stopped dagster dev and the sandboxes; the databases stay on the PostgreSQL you gave:")
        say(f"  {where}")
    else:
        say("Stopped dagster dev, the sandboxes and the throwaway PostgreSQL (its databases went with it;")
        say("  DEMO_PG_DSN=postgresql://... keeps them on a server of yours).")
    if not args.ui:
        say(
            "For the UI: make demo-orchestrated DEMO_UI=1 (keeps it all running until Ctrl-C), or the README."
        )
    return 1 if failed or mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
