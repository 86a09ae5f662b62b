"""The statements target-postgres-bulk sends: quoted identifiers, one upsert, append without keys."""

from __future__ import annotations

import logging

from loaderkit import Column, Kind, Table
from target_postgres_bulk.warehouse import PostgresWarehouse


def _warehouse() -> PostgresWarehouse:
    return PostgresWarehouse({"user": "u", "database": "d"}, logging.getLogger("test"))


def test_upsert_quotes_names_and_updates_the_other_columns() -> None:
    table = Table(
        "s", 'my "schema"', "Odd Table", (Column("id", Kind.INTEGER), Column("a b", Kind.STRING)), ("id",)
    )
    sql = _warehouse()._merge_sql(table)
    assert 'INSERT INTO "my ""schema"""."Odd Table" ("id", "a b")' in sql
    assert 'ON CONFLICT ("id") DO UPDATE SET "a b" = EXCLUDED."a b"' in sql
    assert 'DISTINCT ON (r."id")' in sql and "s.seq DESC" in sql


def test_only_key_columns_do_nothing_and_no_key_appends() -> None:
    only_keys = Table("s", "x", "t", (Column("id", Kind.INTEGER),), ("id",))
    assert _warehouse()._merge_sql(only_keys).endswith('ON CONFLICT ("id") DO NOTHING')
    no_keys = Table("s", "x", "t", (Column("id", Kind.INTEGER),), ())
    sql = _warehouse()._merge_sql(no_keys)
    assert "ON CONFLICT" not in sql and sql.endswith("ORDER BY s.seq")
