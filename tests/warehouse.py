"""Read what a pipeline loaded: ids per table in DuckDB, PostgreSQL and JSONL; env vars for Meltano.

Plain functions, so the Meltano end-to-end tests and the dlt parity tests compare loads the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse


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
