"""`make demo`: the three taps into DuckDB with `meltano run`, against the local sandboxes.

Starts the three sandboxes on the ports the `dev` environment of meltano.yml names (crm 8301, projects
8302, leads 8303/v2; a busy port falls back to a free one, passed to the tap through TAP_X_BASE_URL), runs
`meltano --environment=dev run tap-x target-duckdb-bulk` for each (progress per stream; `dev` named, since
the project's default is prod), stops the sandboxes and prints the rows per table next to the sandbox's
truth (`GET <root>/_sandbox/truth`). Exits 1 if any table differs.
Each tap's catalog is discovered once per version of its code (catalog_cache.py) and handed to Meltano,
which otherwise runs `--discover` before every run of an editable install.
Run from the repository root after `make setup`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from catalog_cache import cached_catalog

from api_sandbox.launcher import SandboxProcess, SandboxStartError

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAREHOUSE = REPO / "output" / "warehouse.duckdb"
LOGS = REPO / "output" / "demo-logs"
APIS = {"crm": 8301, "projects": 8302, "leads": 8303}
CATALOGS = REPO / ".meltano" / "catalogs"  # each tap's catalog, by a hash of its code (catalog_cache.py)
STREAM_START = re.compile(r"Beginning (?:\w+ )?sync of '([^']+)'")


def say(text: str = "") -> None:
    print(text, flush=True)


def start_sandbox(api: str, port: int, stack: ExitStack) -> SandboxProcess:
    """`api-sandbox serve` on `port`, or on a free one when that is taken; stopped when `stack` closes."""
    try:
        sandbox = SandboxProcess(api, port=port)
    except SandboxStartError:
        try:
            sandbox = SandboxProcess(api, port=0)
        except SandboxStartError as exc:
            raise SystemExit(str(exc)) from None
        say(f"  port {port} is busy: {api} sandbox moved to {sandbox.base_url}")
    return stack.enter_context(sandbox)


def meltano_run(api: str, base_url: str) -> float:
    """`meltano run --full-refresh tap-<api> target-duckdb-bulk`, echoing each stream as it starts."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        f"TAP_{api.upper()}_BASE_URL": base_url,
        # The sandbox's key, explicitly: a real key stored in .env (TAP_X_API_KEY) would otherwise win
        # over the dev environment's and the sandbox would refuse it.
        f"TAP_{api.upper()}_API_KEY": "sandbox-key",
        "NO_COLOR": "1",
        # The sandboxes' environment, named: the project's default is prod (the real APIs).
        "MELTANO_ENVIRONMENT": "dev",
    }
    # The catalog of the code as it is, discovered once per change of it: no `--discover` before each run.
    tap = REPO / ".meltano" / "extractors" / f"tap-{api}" / "venv" / "bin" / f"tap-{api}"
    catalog = cached_catalog(api, tap, base_url, CATALOGS) if tap.exists() else None
    if catalog is not None:
        env[f"TAP_{api.upper()}__CATALOG"] = str(catalog)
    command = [str(BIN / "meltano"), "run", "--full-refresh", f"tap-{api}", "target-duckdb-bulk"]
    log_path = LOGS / f"tap-{api}.log"
    say(f"  $ meltano --environment=dev run tap-{api} target-duckdb-bulk")
    started = time.monotonic()
    streams = 0
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            found = STREAM_START.search(line)
            if found:
                streams += 1
                say(f"      {streams:>2}. {found.group(1)}")
        code = proc.wait()
    elapsed = time.monotonic() - started
    if code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-25:]
        say("\n".join("    | " + t for t in tail))
        raise SystemExit(
            f"meltano run tap-{api} target-duckdb-bulk failed (exit {code}); full log: {log_path}"
        )
    say(f"    done in {elapsed:.1f} s")
    return elapsed


def loaded(schema: str) -> dict[str, tuple[int, int]]:
    """Rows and distinct ids per table of `schema` in the warehouse (read-only)."""
    import duckdb

    con = duckdb.connect(str(WAREHOUSE), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
            ).fetchall()
        ]
        out = {}
        for table in tables:
            row = con.execute(f'SELECT count(*), count(DISTINCT id) FROM {schema}."{table}"').fetchone()
            assert row is not None
            out[table] = (int(row[0]), int(row[1]))
        return out
    finally:
        con.close()


def main() -> int:
    os.umask(0o077)  # the sandboxes and every meltano run: what they write is this user's alone
    total_start = time.monotonic()
    LOGS.mkdir(parents=True, exist_ok=True)
    if WAREHOUSE.exists():
        WAREHOUSE.unlink()  # the demo's warehouse holds sandbox data only; start clean
    truths: dict[str, dict[str, list[Any]]] = {}
    say("==> starting the sandboxes (local fakes of the three APIs)")
    with ExitStack() as stack:
        sandboxes = {api: start_sandbox(api, port, stack) for api, port in APIS.items()}
        for api, sandbox in sandboxes.items():
            say(f"  {api:<9} {sandbox.base_url}")
        say("==> meltano run, one tap at a time, into DuckDB")
        for api, sandbox in sandboxes.items():
            meltano_run(api, sandbox.base_url)
            truths[api] = sandbox.truth()
        say("==> stopping the sandboxes")
    say()
    header = f"{'api':<9} {'table':<22} {'rows':>7} {'ids':>7} {'sandbox':>8}  ok"
    say(header)
    say("-" * len(header))
    mismatches = 0
    for api, per_table in truths.items():
        have = loaded(f"tap_{api}")
        for table, ids in per_table.items():
            rows, distinct = have.get(table, (0, 0))
            ok = rows == distinct == len(ids)
            mismatches += not ok
            say(f"{api:<9} {table:<22} {rows:>7} {distinct:>7} {len(ids):>8}  {'yes' if ok else 'NO'}")
    tables = sum(len(t) for t in truths.values())
    rows_total = sum(len(ids) for t in truths.values() for ids in t.values())
    say()
    elapsed = time.monotonic() - total_start
    say(f"{tables} tables, {rows_total} rows, {mismatches} mismatches, in {elapsed:.0f} s")
    say(f"DuckDB file: {WAREHOUSE.relative_to(REPO)} (schemas tap_crm, tap_projects, tap_leads)")
    say("Try:")
    query = "SELECT status, count(*) AS tasks FROM tap_crm.tasks GROUP BY 1 ORDER BY 2 DESC"
    say(
        '  .venv/bin/python -c "import duckdb; '
        f"print(duckdb.connect('output/warehouse.duckdb', read_only=True).sql('{query}'))\""
    )
    say(f"Logs of each run: {LOGS.relative_to(REPO)}/")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
