"""PostgreSQL: COPY the spool file into a jsonb staging table, check it set-wise, upsert in one statement.

The spool (or BATCH) file's lines go to the server as they are: `COPY ... FROM STDIN` in CSV mode with a
quote and delimiter no JSON line holds, into a temporary `(seq bigserial, data jsonb)` table. The server
parses the JSON (numbers as numeric: every digit kept) and `jsonb_populate_record` turns each line into a
row of the target table's own type, so all typing happens in C, set-wise. One
`INSERT ... ON CONFLICT (key) DO UPDATE` merges the batch (its last record per key wins); without key
properties it is a plain INSERT. All of it is one transaction.
"""

from __future__ import annotations

import contextlib
import gzip
import re
from collections.abc import Sequence
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from loaderkit import Batch, Column, Kind, LoadError, Table, Warehouse, describe_key
from loaderkit.errors import short

TYPES = {
    Kind.INTEGER: "bigint",
    Kind.NUMBER: "numeric",  # unconstrained numeric: every digit a tap sends, however many
    Kind.BOOLEAN: "boolean",
    Kind.STRING: "text",
    Kind.TIMESTAMP: "timestamp with time zone",
    Kind.DATE: "date",
    Kind.TIME: "time without time zone",
    Kind.JSON: "jsonb",
}
# jsonb_typeof names a column of each kind accepts (JSON columns take anything); integers are numbers
# written without a fraction or exponent.
JSON_TYPES: dict[Kind, str] = {
    Kind.INTEGER: "number",
    Kind.NUMBER: "number",
    Kind.BOOLEAN: "boolean",
    Kind.STRING: "string",
    Kind.TIMESTAMP: "string",
    Kind.DATE: "string",
    Kind.TIME: "string",
}
# What a date, time or date-time string must start with: PostgreSQL also reads words such as 'yesterday',
# 'now' or 'epoch' as dates, which no tap means.
ISO_PREFIX = {
    Kind.TIMESTAMP: "^[0-9]{4}-[0-9]{2}-[0-9]{2}",
    Kind.DATE: "^[0-9]{4}-[0-9]{2}-[0-9]{2}",
    Kind.TIME: "^[0-9]{2}:[0-9]{2}",
}
STAGE = "loaderkit_stage"
# CSV with a quote and a delimiter that never occur in a JSON line: each line arrives as one value.
COPY = f"COPY {STAGE} (data) FROM STDIN WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
_LOST = (psycopg2.OperationalError, psycopg2.InterfaceError)


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "pgerror", None) or str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    first = re.sub(r"^ERROR:\s*", "", first)
    where = next((line for line in lines[1:] if line.startswith("CONTEXT:")), "")
    return first + (f" ({where.removeprefix('CONTEXT:').strip()})" if where else "")


class PostgresWarehouse(Warehouse):
    types = TYPES
    max_identifier_bytes = 63

    def __init__(self, config: Any, logger: Any) -> None:
        super().__init__(config, logger)
        self._con: psycopg2.extensions.connection | None = None
        self._unique_checked: set[tuple[str, str, tuple[str, ...]]] = set()

    @property
    def con(self) -> psycopg2.extensions.connection:
        if self._con is None:
            c = self.config
            params: dict[str, Any] = {
                "host": c.get("host") or "localhost",
                "port": int(c.get("port") or 5432),
                "user": c["user"],
                "dbname": c["database"],
                "connect_timeout": int(c.get("connect_timeout") or 30),
                "application_name": "target-postgres-bulk",
                # A server that vanishes mid-load is noticed instead of waited on for ever.
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
            }
            if c.get("password"):
                params["password"] = c["password"]
            try:
                self._con = psycopg2.connect(**params)
            except psycopg2.Error as exc:
                where = f"{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
                raise LoadError(f"cannot connect to PostgreSQL as {where}: {_first_line(exc)}") from None
        return self._con

    def _run(self, table: Table, what: str, statements: Sequence[str], params: Any = None) -> list[tuple]:
        """Statements in one transaction; the last one's rows."""
        rows: list[tuple] = []
        try:
            with self.con.cursor() as cur:
                for statement in statements:
                    cur.execute(statement, params)
                rows = cur.fetchall() if cur.description else []
            self.con.commit()
        except psycopg2.Error as exc:
            self._rollback()
            raise LoadError(f"stream {table.stream!r}: {what} failed: {_first_line(exc)}") from None
        return rows

    def _rollback(self) -> None:
        if self._con is not None and not self._con.closed:
            with contextlib.suppress(psycopg2.Error):
                self._con.rollback()

    # -- tables ---------------------------------------------------------------------------------

    def existing_columns(self, table: Table) -> dict[str, Kind | None] | None:
        rows = self._run(
            table,
            "reading the table's columns",
            [
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %(schema)s AND table_name = %(name)s ORDER BY ordinal_position"
            ],
            {"schema": table.schema, "name": table.name},
        )
        if not rows:
            return None
        return {name: self.kind_of_type(data_type) for name, data_type in rows}

    def create_table(self, table: Table) -> None:
        columns = [f"{self.quote(c.name)} {TYPES[c.kind]}" for c in table.columns]
        if table.keys:
            columns.append(f"PRIMARY KEY ({', '.join(map(self.quote, table.keys))})")
        self._run(
            table,
            f"creating table {self.qualified(table)}",
            [
                f"CREATE SCHEMA IF NOT EXISTS {self.quote(table.schema)}",
                f"CREATE TABLE IF NOT EXISTS {self.qualified(table)} ({', '.join(columns)})",
            ],
        )

    def alter_table(self, table: Table, add: list[Column], widen: list[Column]) -> None:
        name = self.qualified(table)
        statements = [f"ALTER TABLE {name} ADD COLUMN {self.quote(c.name)} {TYPES[c.kind]}" for c in add]
        statements += [
            f"ALTER TABLE {name} ALTER COLUMN {self.quote(c.name)} TYPE {TYPES[c.kind]} "
            f"USING {self.quote(c.name)}::{TYPES[c.kind]}"
            for c in widen
        ]
        if statements:
            self._run(table, f"changing table {name}", statements)

    def prepare(self, table: Table) -> None:
        super().prepare(table)
        marker = (table.schema, table.name, table.keys)
        if not table.keys or marker in self._unique_checked:
            return
        found = self._run(
            table,
            "reading the table's keys",
            [
                "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %(schema)s AND c.relname = %(name)s AND i.indisunique "
                "AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a "
                "WHERE a.attrelid = c.oid AND a.attnum = ANY(i.indkey)) = %(keys)s"
            ],
            {"schema": table.schema, "name": table.name, "keys": sorted(table.keys)},
        )
        if not found:
            raise LoadError(
                f"stream {table.stream!r}: table {self.qualified(table)} has no primary key or unique index "
                f"on ({', '.join(table.keys)}), so records cannot be merged on it: add one, or drop the table"
            )
        self._unique_checked.add(marker)

    # -- the stream a table is written from (loaderkit.Warehouse.check_owner) --------------------

    def table_comment(self, table: Table) -> str | None:
        rows = self._run(
            table,
            "reading the table's comment",
            [
                "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %(schema)s AND c.relname = %(name)s"
            ],
            {"schema": table.schema, "name": table.name},
        )
        return rows[0][0] if rows else None

    def set_table_comment(self, table: Table, comment: str) -> None:
        statement = sql.SQL("COMMENT ON TABLE {} IS {}").format(
            sql.Identifier(table.schema, table.name), sql.Literal(comment)
        )
        self._run(table, "writing the table's comment", [statement.as_string(self.con)])

    # -- loads ----------------------------------------------------------------------------------

    def load(self, table: Table, batch: Batch) -> int:
        failed = f"stream {table.stream!r}: loading {batch.what} into {self.qualified(table)} failed"
        try:
            with self.con.cursor() as cur:
                cur.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (seq bigserial, data jsonb) "
                    "ON COMMIT DELETE ROWS"
                )
                for file in batch.files:
                    opener = gzip.open if file.gzip else open
                    with opener(file.path, "rb") as stream:
                        cur.copy_expert(COPY, stream, size=1 << 20)
                self._check(cur, table, batch)
                cur.execute("SAVEPOINT loaderkit_merge")
                try:
                    cur.execute(self._merge_sql(table))
                except psycopg2.DataError as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT loaderkit_merge")
                    raise LoadError(f"stream {table.stream!r}: {self._diagnose(cur, table, exc)}") from None
                cur.execute(f"SELECT count(*) FROM {STAGE}")
                rows = int(cur.fetchone()[0])
            self.con.commit()
            return rows
        except LoadError:
            self._rollback()
            raise
        except _LOST as exc:
            self._rollback()
            raise LoadError(
                f"{failed}, nothing of it committed: the connection was lost: {_first_line(exc)}"
            ) from None
        except psycopg2.Error as exc:
            self._rollback()
            raise LoadError(f"{failed}, nothing of it committed: {_first_line(exc)}") from None
        except OSError as exc:  # a BATCH file that cannot be read or is not gzip
            self._rollback()
            raise LoadError(f"{failed}, nothing of it committed: {exc}") from None

    def _check(self, cur: Any, table: Table, batch: Batch) -> None:
        """Refuse the batch at its first bad record: a missing key, a value its column cannot hold."""
        if table.keys:
            missing = " OR ".join(
                f"coalesce(jsonb_typeof(data -> {self._lit(k)}), 'null') = 'null'" for k in table.keys
            )
            cur.execute(f"SELECT seq, data::text FROM {STAGE} WHERE {missing} ORDER BY seq LIMIT 1")
            row = cur.fetchone()
            if row is not None:
                raise LoadError(
                    f"stream {table.stream!r}: a record of {batch.what} has no value for key "
                    f"propert{'y' if len(table.keys) == 1 else 'ies'} {', '.join(map(repr, table.keys))}: "
                    f"{short(row[1])}"
                )
        checks = []
        for column in table.columns:
            accepted = JSON_TYPES.get(column.kind)
            if accepted is None:
                continue
            value = f"(data -> {self._lit(column.name)})"
            wrong = f"jsonb_typeof({value}) NOT IN ('null', '{accepted}')"
            if column.kind is Kind.INTEGER:
                wrong += f" OR (jsonb_typeof({value}) = 'number' AND {value}::text !~ '^-?[0-9]+$')"
            if column.kind in ISO_PREFIX:
                pattern = ISO_PREFIX[column.kind]
                wrong += f" OR (jsonb_typeof({value}) = 'string' AND ({value} #>> '{{}}') !~ '{pattern}')"
            checks.append((column, wrong))
        if not checks:
            return
        which = " ".join(f"WHEN {cond} THEN {self._lit(c.name)}" for c, cond in checks)
        cur.execute(
            f"SELECT bad, data FROM (SELECT seq, CASE {which} END AS bad, data FROM {STAGE}) AS s "
            "WHERE bad IS NOT NULL ORDER BY seq LIMIT 1"
        )
        row = cur.fetchone()
        if row is not None:
            name, record = row
            column = table.column(name)
            raise LoadError(
                f"stream {table.stream!r}: record {describe_key(record, table.keys)}: property {name!r} is "
                f"{short(record.get(name))}, which is not a valid {column.kind} ({TYPES[column.kind]})"
            )

    def _diagnose(self, cur: Any, table: Table, exc: psycopg2.Error) -> str:
        """The first staged record the table's types refuse, found row by row (only after a failure)."""
        function = "pg_temp.loaderkit_first_bad"
        cur.execute(
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS TABLE (bad_data jsonb, bad_error text)
            LANGUAGE plpgsql AS $f$
            DECLARE s record;
            BEGIN
              FOR s IN SELECT st.seq, st.data FROM {STAGE} st ORDER BY st.seq LOOP
                BEGIN
                  PERFORM jsonb_populate_record(NULL::{self.qualified(table)}, s.data);
                EXCEPTION WHEN others THEN
                  bad_data := s.data; bad_error := SQLERRM; RETURN NEXT; RETURN;
                END;
              END LOOP;
            END $f$"""
        )
        cur.execute(f"SELECT * FROM {function}()")
        row = cur.fetchone()
        if row is None:
            return f"the merge failed: {_first_line(exc)}"
        record, error = row
        return f"record {describe_key(record, table.keys)}: {error}"

    @staticmethod
    def _lit(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def _merge_sql(self, table: Table) -> str:
        target = self.qualified(table)
        names = ", ".join(self.quote(c.name) for c in table.columns)
        values = ", ".join(f"r.{self.quote(c.name)}" for c in table.columns)
        source = f"FROM {STAGE} s CROSS JOIN LATERAL jsonb_populate_record(NULL::{target}, s.data) AS r"
        if not table.keys:
            return f"INSERT INTO {target} ({names}) SELECT {values} {source} ORDER BY s.seq"
        keys = ", ".join(f"r.{self.quote(k)}" for k in table.keys)
        others = [c.name for c in table.columns if c.name not in table.keys]
        action = (
            "DO UPDATE SET " + ", ".join(f"{self.quote(n)} = EXCLUDED.{self.quote(n)}" for n in others)
            if others
            else "DO NOTHING"
        )
        return (
            f"INSERT INTO {target} ({names}) SELECT DISTINCT ON ({keys}) {values} {source} "
            f"ORDER BY {keys}, s.seq DESC "
            f"ON CONFLICT ({', '.join(map(self.quote, table.keys))}) {action}"
        )

    def close(self) -> None:
        super().close()
        if self._con is not None:
            self._con.close()
            self._con = None
