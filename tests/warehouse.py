"""Read what a pipeline loaded: ids per table in DuckDB, PostgreSQL and JSONL; env vars for Meltano.

Plain functions, so the Meltano end-to-end tests and the dlt parity tests compare loads the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from psycopg2.sql import Composable


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_ids(path: str | Path, schema: str, table: str, column: str = "id") -> list[Any]:
    """Every value of `column` in `schema.table` of the DuckDB file, sorted (duplicates kept)."""
    import duckdb

    # Read-only: the file may be written by an older duckdb (target-duckdb's pin); never upgrade it.
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(f"SELECT {_quote(column)} FROM {_quote(schema)}.{_quote(table)}").fetchall()
    finally:
        con.close()
    return sorted(r[0] for r in rows)


def duckdb_tables(path: str | Path, schema: str) -> list[str]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [schema]
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def postgres_ids(dsn: str, schema: str, table: str, column: str = "id") -> list[Any]:
    """Every value of `column` in `schema.table` on the server of `dsn`, sorted (duplicates kept)."""
    import psycopg2

    con = psycopg2.connect(dsn)
    try:
        with con.cursor() as cur:
            cur.execute(f"SELECT {_quote(column)} FROM {_quote(schema)}.{_quote(table)}")
            rows = cur.fetchall()
    finally:
        con.close()
    return sorted(r[0] for r in rows)


def postgres_tables(dsn: str, schema: str) -> list[str]:
    import psycopg2

    con = psycopg2.connect(dsn)
    try:
        with con.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
                (schema,),
            )
            rows = cur.fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def jsonl_ids(path: str | Path, column: str = "id") -> list[Any]:
    """Every value of `column` in a JSON Lines file, sorted (duplicates kept)."""
    with open(path, encoding="utf-8") as f:
        return sorted(json.loads(line)[column] for line in f if line.strip())


def tap_env(tap: str, base_url: str, api_key: str = "sandbox-key", **settings: Any) -> dict[str, str]:
    """Meltano env overrides pointing `tap-<tap>` at a sandbox: TAP_CRM_BASE_URL, TAP_CRM_API_KEY, ..."""
    prefix = f"TAP_{tap.upper()}_"
    env = {prefix + "BASE_URL": base_url, prefix + "API_KEY": api_key}
    for name, value in settings.items():
        env[prefix + name.upper()] = value if isinstance(value, str) else json.dumps(value)
    return env


def target_postgres_env(dsn: str, loader: str = "target-postgres") -> dict[str, str]:
    """TARGET_POSTGRES_HOST, _PORT, _USER, _PASSWORD, _DATABASE from a postgresql:// DSN (for `loader`:
    TARGET_POSTGRES_BULK_HOST, ... for target-postgres-bulk)."""
    url = urlparse(dsn)
    prefix = loader.upper().replace("-", "_") + "_"
    return {
        prefix + "HOST": url.hostname or "127.0.0.1",
        prefix + "PORT": str(url.port or 5432),
        prefix + "USER": unquote(url.username or "postgres"),
        prefix + "PASSWORD": unquote(url.password or ""),
        prefix + "DATABASE": url.path.lstrip("/") or "postgres",
    }


def postgres_config(dsn: str, **extra: Any) -> dict[str, Any]:
    """target-postgres-bulk's config (host, port, user, password, database) from a postgresql:// DSN."""
    url = urlparse(dsn)
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5432,
        "user": unquote(url.username or "postgres"),
        "password": unquote(url.password or ""),
        "database": url.path.lstrip("/") or "postgres",
        **extra,
    }


# -- telling a merge from a reload ----------------------------------------------------------------------

# Per tap: a paginated table, and an id no sandbox serves (integer ids for crm and projects).
MERGE_PROBES = {
    "crm": ("tasks", "99999990"),
    "projects": ("jobs", "99999990"),
    "leads": ("leads", "'zz_marker'"),
}


def merge_probe_sql(schema: str, table: str, marker: str, dialect: str) -> tuple[str, str]:
    """SQL that (1) adds a row with id ``marker`` that no run will send, a copy of another row, and
    (2) blanks ``updated_at`` of the row with the smallest id. After a second run a merge has kept the
    marker and restored ``updated_at``; a drop-and-reload loses the marker; an insert-only load leaves
    ``updated_at`` blank."""
    t = f"{_quote(schema)}.{_quote(table)}"
    if dialect == "duckdb":
        insert = f"INSERT INTO {t} SELECT * REPLACE ({marker} AS id) FROM {t} ORDER BY id LIMIT 1"
    else:
        insert = (
            f"INSERT INTO {t} SELECT (jsonb_populate_record(NULL::{t}, to_jsonb(x) || "
            f"jsonb_build_object('id', {marker}))).* FROM {t} x ORDER BY id LIMIT 1"
        )
    blank = f"UPDATE {t} SET updated_at = NULL WHERE id = (SELECT min(id) FROM {t})"
    return insert, blank


def merge_probe_check_sql(schema: str, table: str, marker: str) -> str:
    t = f"{_quote(schema)}.{_quote(table)}"
    return (
        f"SELECT (SELECT count(*) FROM {t} WHERE id = {marker}), "
        f"(SELECT count(*) FROM {t} WHERE id = (SELECT min(id) FROM {t} WHERE id <> {marker}) "
        "AND updated_at IS NOT NULL)"
    )


def duckdb_execute(python: str | Path, path: str | Path, *statements: str) -> list[tuple]:
    """Run SQL on a DuckDB file with ``python``'s duckdb (the loader's own: a newer duckdb would upgrade the
    file under a pinned writer); the rows of the last statement."""
    import subprocess

    code = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "rows = []\n"
        "for sql in json.loads(sys.argv[2]):\n"
        "    rows = con.execute(sql).fetchall()\n"
        "con.close()\n"
        "print(json.dumps(rows, default=str))\n"
    )
    done = subprocess.run(
        [str(python), "-c", code, str(path), json.dumps(statements)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [tuple(r) for r in json.loads(done.stdout)]


def postgres_execute(dsn: str, *statements: str | Composable) -> list[tuple]:
    import psycopg2

    con = psycopg2.connect(dsn)
    rows: list[tuple] = []
    try:
        with con.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
                rows = cur.fetchall() if cur.description else []
        con.commit()
    finally:
        con.close()
    return rows
