"""Running the bulk loaders on hand-written Singer messages, and reading back what they loaded.

`Loader` wraps one of target-duckdb-bulk / target-postgres-bulk as a CLI subprocess with a config file,
over a real DuckDB file or a real PostgreSQL database; tests/test_bulk_loaders.py runs every case on both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from warehouse import postgres_config

from loaderkit.testing import lines, record, schema, state

__all__ = ["BIN", "Loader", "error_lines", "lines", "output", "record", "schema", "state"]

BIN = Path(sys.executable).parent
# A key and a column of each plain type: the properties the loader tests' schemas start from.
PLAIN_PROPS: dict[str, Any] = {
    "id": {"type": "integer"},
    "name": {"type": ["string", "null"]},
    "amount": {"type": ["number", "null"]},
    "active": {"type": ["boolean", "null"]},
    "updated_at": {"type": ["string", "null"], "format": "date-time"},
}


class Loader:
    """One bulk loader over one database."""

    def __init__(self, kind: str, workdir: Path, dsn: str | None = None) -> None:
        self.kind = kind
        self.name = f"target-{kind}-bulk"
        self.workdir = workdir
        self.dsn = dsn
        self.db_path = workdir / "warehouse.duckdb"

    def config(self, **settings: Any) -> dict[str, Any]:
        base = {"filepath": str(self.db_path)} if self.kind == "duckdb" else postgres_config(self.dsn or "")
        return {**base, "default_target_schema": "proof", **settings}

    def command(self, **settings: Any) -> list[str]:
        """The loader's command line; its config, `config(**settings)`, written into the work dir."""
        config = self.workdir / "config.json"
        config.write_text(json.dumps(self.config(**settings)))
        return [str(BIN / self.name), "--config", str(config)]

    def run(
        self, messages: Iterable[dict[str, Any] | str], timeout: float = 120, **settings: Any
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(**settings),
            input=lines(messages),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, **settings: Any) -> subprocess.Popen[str]:
        """The loader started, its stdin, stdout and stderr pipes in text mode, for a test to feed it."""
        pipe = subprocess.PIPE
        return subprocess.Popen(self.command(**settings), stdin=pipe, stdout=pipe, stderr=pipe, text=True)

    def query(self, sql: str, utc: bool = False) -> list[tuple[Any, ...]]:
        """Rows of `sql`; with `utc`, date-times shown in UTC whatever the session's zone."""
        if self.kind == "duckdb":
            import duckdb

            con = duckdb.connect(str(self.db_path), read_only=True)
            try:
                if utc:
                    con.execute("SET TimeZone = 'UTC'")
                return con.execute(sql).fetchall()
            finally:
                con.close()
        import psycopg2

        pg = psycopg2.connect(self.dsn)
        try:
            with pg.cursor() as cur:
                if utc:
                    cur.execute("SET TimeZone TO 'UTC'")
                cur.execute(sql)
                return cur.fetchall()
        finally:
            pg.close()

    def rows(self, table: str, columns: str = "*", order: str = '"id"') -> list[tuple[Any, ...]]:
        return self.query(f'SELECT {columns} FROM "proof"."{table}" ORDER BY {order}')

    def ids(self, table: str) -> list[Any]:
        return [r[0] for r in self.rows(table, '"id"')]

    def column_types(self, table: str) -> dict[str, str]:
        sql = (
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = 'proof' AND table_name = '{table}' ORDER BY ordinal_position"
        )
        return {name: kind.lower() for name, kind in self.query(sql)}


def output(result: subprocess.CompletedProcess[str]) -> str:
    err = [ln for ln in result.stderr.splitlines() if "METRIC" not in ln]
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-2000:]}\n--- stderr\n" + "\n".join(
        err[-40:]
    )


def error_lines(result: subprocess.CompletedProcess[str], loader: str) -> list[str]:
    """The loader's own error lines (`target-x-bulk: ...`)."""
    return [ln for ln in result.stderr.splitlines() if f"{loader}: " in ln and "ERROR" in ln]


def only_error(result: subprocess.CompletedProcess[str], loader: Loader) -> str:
    """The run failed with exactly one error line of the loader's and no traceback; that line."""
    assert result.returncode == 1, output(result)
    assert "Traceback" not in result.stderr, output(result)
    found = error_lines(result, loader.name)
    assert len(found) == 1, output(result)
    return found[0]


def first_state_after_a_wait(
    proc: subprocess.Popen[str], before: str, after: str, seen: Any, wait: float = 1.5
) -> tuple[str, Any]:
    """Write ``before``, wait past batch_wait_limit_seconds, write ``after``; the first line the loader
    writes (a STATE) and ``seen()`` read the moment it came out; then the loader's end (killed if it
    hangs)."""
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(before)
        proc.stdin.flush()
        time.sleep(wait)
        proc.stdin.write(after)
        proc.stdin.flush()
        first_state = proc.stdout.readline()
        rows = seen()
        proc.stdin.close()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return first_state, rows
