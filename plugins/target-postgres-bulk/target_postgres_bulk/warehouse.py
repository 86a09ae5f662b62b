"""PostgreSQL: COPY the spool file into a jsonb staging table, check it set-wise, upsert in one statement.

The spool (or BATCH) file's lines go to the server as they are: `COPY ... FROM STDIN` in CSV mode with a
quote and delimiter no JSON line holds, into a temporary `(seq bigserial, data jsonb)` table. The server
parses the JSON (numbers as numeric: every digit kept) and `jsonb_populate_record` turns each line into a
row of the target table's own type, so all typing happens in C, set-wise. One
`INSERT ... ON CONFLICT (key) DO UPDATE` merges the batch (its last record per key wins); without key
properties it is a plain INSERT. All of it is one transaction.

Every name and value that reaches a statement goes through psycopg2's own quoting (`sql.Identifier`,
`sql.Literal`, parameters), so a stream or property name cannot end a literal or an identifier whatever the
server's `standard_conforming_strings`; no statement carries a function body. The session reads date-times
without a zone as UTC (`SET TimeZone`), whatever the server's or the database's default.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from loaderkit import Batch, BatchFile, Column, Kind, LoadError, Table, Warehouse, describe_key
from loaderkit.columns import WIDENINGS
from loaderkit.errors import short
from loaderkit.schemas import short as as_json  # JSON's escapes: a \u0000 is shown, not written

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
# How a column's old values become the new type's, value for value: numbers keep their digits; as text,
# every type reads as its JSON form would (a date-time in ISO 8601 with its offset, a JSON string without
# its quotes, an object as JSON); as jsonb, each value is the JSON value it was loaded from.
CASTS = {
    Kind.NUMBER: "{}::numeric",
    Kind.STRING: "to_json({}) #>> '{{}}'",
    Kind.JSON: "to_jsonb({})",
}
# jsonb_typeof names a column of each kind accepts (JSON columns take anything). An integer column's
# number with a fraction (5.0, 1.5) or past bigint (1e30) is not tested here: jsonb writes numbers
# without exponent (1e2 as 100, 5.0 as 5.0), bigint's own input refuses those texts in the merge, and
# _diagnose names the record and property (testing it in the check too cost a tenth of the check).
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
# 'now' or 'epoch' as dates, which no tap means. And what it must not hold, as the server would change
# the value without a word: a digit beyond the microseconds the column keeps (rounded), a leap second
# (read as the next minute's first), in a time without zone an offset other than UTC's (dropped), and
# in a date anything after the date (a time of day, dropped).
_PAST_MICROSECONDS = r"\.[0-9]{6}0*[1-9]"
_EXACT = rf"(?!.*{_PAST_MICROSECONDS})"
ISO_PREFIX = {
    Kind.TIMESTAMP: "^[0-9]{4}-[0-9]{2}-[0-9]{2}(?![T ][0-9]{2}:[0-9]{2}:60)" + _EXACT,
    Kind.DATE: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",  # a date alone: the server would drop a time after it
    Kind.TIME: "^[0-9]{2}:[0-9]{2}(?!:60)(?!.*[+-](?!00(:?00)?$)[0-9])" + _EXACT,
}
# The same rules for date-times and dates without a regular expression in the common case (PostgreSQL's
# cost about 2 µs a value, most of a batch's check): the date as LIKE and ltrim see it, a regex only for a
# value that LIKE finds holding ':60' or a fraction of 7 characters or more. ISO_PREFIX stays the rule
# (and is used as it is for times); a test holds these to it, value for value.
_ISO_DATE = (
    "({t} LIKE '____-__-__%' "
    "AND ltrim(substr({t}, 1, 4) || substr({t}, 6, 2) || substr({t}, 9, 2), '0123456789') = '')"
)
_LEAP_SECOND = r"^.{10}[T ][0-9]{2}:[0-9]{2}:60"


def iso_wrong(kind: Kind, text: sql.Composable) -> sql.Composable:
    """SQL true for the text of a JSON string (`text`, not null) that a column of `kind` refuses."""
    if kind is Kind.TIMESTAMP:
        return sql.SQL(
            "(NOT "
            + _ISO_DATE
            + " OR ({t} LIKE '%:60%' AND {t} ~ {leap}) OR ({t} LIKE '%._______%' AND {t} ~ {frac}))"
        ).format(t=text, leap=sql.Literal(_LEAP_SECOND), frac=sql.Literal(_PAST_MICROSECONDS))
    if kind is Kind.DATE:
        return sql.SQL("(NOT " + _ISO_DATE + " OR length({t}) <> 10)").format(t=text)
    return sql.SQL("({t} !~ {p})").format(t=text, p=sql.Literal(ISO_PREFIX[kind]))


# Why a date-time or time the server could read is still refused, for the error line.
ISO_RULE = {
    Kind.TIMESTAMP: "an ISO 8601 date-time, at most 6 fractional digits, no leap second",
    Kind.DATE: "an ISO 8601 date alone, YYYY-MM-DD",
    Kind.TIME: "an ISO 8601 time, at most 6 fractional digits, no leap second, no offset but UTC's",
}
STAGE = sql.Identifier("loaderkit_stage")
# CSV with a quote and a delimiter that never occur in a JSON line: each line arrives as one value.
COPY = sql.SQL("COPY {} (data) FROM STDIN WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')").format(
    STAGE
)
_LOST = (psycopg2.OperationalError, psycopg2.InterfaceError)
# SQLSTATE classes of a connection that is gone: connection exceptions, the server shutting down. Other
# OperationalErrors (a row too big, a serialization failure, ...) are the server's answer on a live
# connection, and must not be reported as a lost connection.
_LOST_STATES = ("08", "57P")
# Entries of a select list, or columns of a row the server sorts, in the value check (PostgreSQL's limit
# is 1,664; a table holds at most 1,600 columns).
SELECT_LIST_MAX = 1600
UNTRANSLATABLE = "22P05"  # COPY into jsonb: a \u0000, which no text or jsonb value holds


def _lost(exc: BaseException, con: psycopg2.extensions.connection | None) -> bool:
    """Whether `exc` (one of _LOST) means the connection is gone, not a refusal the server sent."""
    if isinstance(exc, psycopg2.InterfaceError) or con is None or con.closed:
        return True
    code = getattr(exc, "pgcode", None)
    return code is None or code.startswith(_LOST_STATES)


# libpq's sslmode values; MeltanoLabs target-postgres takes the same under `ssl_mode`.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# Settings that name one thing each: a URL or key=value pairs in them is a pasted connection string (and
# `user@host` in host; a user name may hold an @, as Azure's `user@server` does).
_CONNECTION_STRINGS = {
    "host": re.compile(r"://|=|@"),
    "user": re.compile(r"://|="),
    "database": re.compile(r"://|="),
}
# How long to ask the server what became of a commit whose answer was lost, while it says "in progress".
COMMIT_STATUS_WAIT_SECONDS = 10.0


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "pgerror", None) or str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    first = re.sub(r"^ERROR:\s*", "", first)
    where = next((line for line in lines[1:] if line.startswith("CONTEXT:")), "")
    return first + (f" ({where.removeprefix('CONTEXT:').strip()})" if where else "")


def _refuse_connection_strings(config: Mapping[str, Any]) -> None:
    """A URL or DSN pasted into host, user or database is refused, and never shown: it may hold a password
    (and libpq's own error would repeat it)."""
    for name, pattern in _CONNECTION_STRINGS.items():
        value = config.get(name)
        if isinstance(value, str) and pattern.search(value):
            raise LoadError(
                f"setting {name!r} holds a connection string (a URL or key=value pairs), not a {name}: give "
                "host, port, user, password and database as settings of their own (its value is not shown: "
                "it may carry a password)"
            )


class PostgresWarehouse(Warehouse):
    types = TYPES
    max_identifier_bytes = 63
    widenings = WIDENINGS | {(k, Kind.JSON) for k in Kind if k is not Kind.JSON}

    def __init__(self, config: Any, logger: Any) -> None:
        super().__init__(config, logger)
        self._con: psycopg2.extensions.connection | None = None
        self._unique_checked: set[tuple[str, str, tuple[str, ...]]] = set()
        self._cert_dir: str | None = None
        self._copying: BatchFile | None = None  # the file COPY is reading (to find a line it refuses)

    # -- connecting -----------------------------------------------------------------------------

    def connect_params(self) -> dict[str, Any]:
        """libpq's parameters from the settings; refuses a pasted connection string and TLS settings
        that contradict each other."""
        c = self.config
        _refuse_connection_strings(c)
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
        params.update(self._tls_params())
        return params

    def _tls_params(self) -> dict[str, str]:
        c = self.config
        params: dict[str, str] = {}
        if c.get("ssl_enable"):
            mode = c.get("ssl_mode") or "verify-full"
            if mode not in SSL_MODES:
                raise LoadError(
                    f"setting 'ssl_mode' must be one of {', '.join(SSL_MODES)}, not {short(mode)}"
                )
            params["sslmode"] = mode
            if c.get("ssl_certificate_authority"):
                params["sslrootcert"] = self._cert_file(c["ssl_certificate_authority"], "root.crt")
        else:
            given = [n for n in ("ssl_mode", "ssl_certificate_authority") if c.get(n)]
            if given:
                raise LoadError(
                    f"setting {given[0]!r} is set but 'ssl_enable' is off, so it would not be used: "
                    "set ssl_enable to true (or remove it)"
                )
        if c.get("ssl_client_certificate_enable"):
            missing = [n for n in ("ssl_client_certificate", "ssl_client_private_key") if not c.get(n)]
            if missing:
                raise LoadError(f"ssl_client_certificate_enable is on but setting {missing[0]!r} is not set")
            params["sslcert"] = self._cert_file(c["ssl_client_certificate"], "client.crt")
            params["sslkey"] = self._cert_file(c["ssl_client_private_key"], "client.key")
        return params

    def _cert_file(self, value: str, name: str) -> str:
        """A path as it is; a certificate or key given as text (PEM) in a 0600 file of a private folder."""
        if "-----BEGIN" not in value:
            return os.path.expanduser(value)
        if self._cert_dir is None:
            self._cert_dir = tempfile.mkdtemp(prefix="target-postgres-bulk-tls-")  # 0700
        path = os.path.join(self._cert_dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
        return path

    @property
    def con(self) -> psycopg2.extensions.connection:
        if self._con is None:
            params = self.connect_params()
            try:
                con = psycopg2.connect(**params)
                with con.cursor() as cur:
                    # Date-times without a zone are UTC, whatever the server's or database's TimeZone.
                    cur.execute("SET TimeZone TO 'UTC'")
                con.commit()
            except psycopg2.Error as exc:
                where = f"{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
                reason = _first_line(exc)
                if params.get("password"):
                    reason = reason.replace(params["password"], "***")
                raise LoadError(f"cannot connect to PostgreSQL as {where}: {reason}") from None
            self._con = con
        return self._con

    def _drop_connection(self) -> None:
        if self._con is not None:
            with contextlib.suppress(psycopg2.Error):
                self._con.close()
            self._con = None

    def _run(
        self, table: Table, what: str, statements: Sequence[sql.Composable | str], params: Any = None
    ) -> list[tuple]:
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

    @staticmethod
    def _table(table: Table) -> sql.Identifier:
        return sql.Identifier(table.schema, table.name)

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
        columns = [
            sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(TYPES[c.kind])) for c in table.columns
        ]
        if table.keys:
            columns.append(sql.SQL("PRIMARY KEY ({})").format(_idents(table.keys)))
        self._run(
            table,
            f"creating table {self.qualified(table)}",
            [
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema)),
                sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                    self._table(table), sql.SQL(", ").join(columns)
                ),
            ],
        )

    def alter_table(self, table: Table, add: list[Column], widen: list[Column]) -> None:
        name = self._table(table)
        statements = [
            sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                name, sql.Identifier(c.name), sql.SQL(TYPES[c.kind])
            )
            for c in add
        ]
        statements += [
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING " + CASTS[c.kind]).format(
                name, sql.Identifier(c.name), sql.SQL(TYPES[c.kind]), sql.Identifier(c.name)
            )
            for c in widen
        ]
        if statements:
            self._run(table, f"changing table {self.qualified(table)}", statements)

    def is_empty(self, table: Table) -> bool:
        query = sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(self._table(table))
        return bool(self._run(table, "reading whether the table holds rows", [query])[0][0])

    def retype_empty(self, table: Table, columns: list[Column]) -> None:
        statements = [
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING NULL").format(
                self._table(table), sql.Identifier(c.name), sql.SQL(TYPES[c.kind])
            )
            for c in columns
        ]
        self._run(table, f"changing table {self.qualified(table)}", statements)

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
                    sql.SQL(
                        "CREATE TEMP TABLE IF NOT EXISTS {} (seq bigserial, data jsonb) ON COMMIT DELETE ROWS"
                    ).format(STAGE)
                )
                copy = COPY.as_string(cur)
                for file in batch.files:
                    self._copying = file
                    opener = gzip.open if file.gzip else open
                    with opener(file.path, "rb") as stream:
                        cur.copy_expert(copy, stream, size=1 << 20)
                self._check(cur, table, batch)
                cur.execute("SAVEPOINT loaderkit_merge")
                try:
                    cur.execute(self._merge_sql(table))
                except psycopg2.DataError as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT loaderkit_merge")
                    raise LoadError(f"stream {table.stream!r}: {self._diagnose(cur, table, exc)}") from None
                cur.execute(sql.SQL("SELECT count(*), txid_current() FROM {}").format(STAGE))
                rows, xid = cur.fetchone()
        except LoadError:
            self._rollback()
            raise
        except psycopg2.Error as exc:
            self._rollback()
            lost = "the connection was lost: " if isinstance(exc, _LOST) and _lost(exc, self._con) else ""
            raise LoadError(f"{failed}, nothing of it committed: {lost}{self._explain(table, exc)}") from None
        except OSError as exc:  # a BATCH file that cannot be read or is not gzip
            self._rollback()
            raise LoadError(f"{failed}, nothing of it committed: {exc}") from None
        try:
            self.con.commit()
        except _LOST as exc:
            if not _lost(exc, self._con):  # the server answered: it refused the commit
                self._rollback()
                raise LoadError(
                    f"{failed}, the server refused the commit, nothing of it committed: {_first_line(exc)}"
                ) from None
            self._after_lost_commit(table, batch, int(xid), exc)
        except psycopg2.Error as exc:  # the server refused the commit: it rolled the transaction back
            self._rollback()
            raise LoadError(
                f"{failed}, the server refused the commit, nothing of it committed: {_first_line(exc)}"
            ) from None
        return int(rows)

    def _explain(self, table: Table, exc: psycopg2.Error) -> str:
        """The server's error; for a character COPY cannot store (\\u0000), the record, property and value
        it is in, read back from the line COPY names."""
        reason = _first_line(exc)
        if getattr(exc, "pgcode", None) != UNTRANSLATABLE or self._copying is None:
            return reason
        found = re.search(r"^COPY \S+, line (\d+)", getattr(exc.diag, "context", None) or "", re.M)
        if not found:
            return reason
        wanted = int(found[1])
        opener = gzip.open if self._copying.gzip else open
        try:
            with opener(self._copying.path, "rb") as lines:
                line = next(itertools.islice(lines, wanted - 1, None), b"")
            record = json.loads(line)
        except (OSError, ValueError):
            return reason
        where = _holding_nul(record) if isinstance(record, dict) else None
        if where is None:
            return reason
        name, value = where
        return (
            f"record {describe_key(record, table.keys)}: property {name!r} is {as_json(value)}, which holds "
            "the character \\u0000: PostgreSQL's text and jsonb cannot store it"
        )

    def _after_lost_commit(self, table: Table, batch: Batch, xid: int, exc: BaseException) -> None:
        """The connection died while committing: ask the server (on a new connection) what became of the
        transaction, and say that. Returns when it committed; raises when it did not, or nobody can tell."""
        lost = f"stream {table.stream!r}: the connection was lost while committing {batch.what} into " + (
            f"{self.qualified(table)} ({_first_line(exc)})"
        )
        self._drop_connection()
        status: str | None = None
        try:
            deadline = time.monotonic() + COMMIT_STATUS_WAIT_SECONDS
            with self.con.cursor() as cur:
                while True:
                    cur.execute("SELECT txid_status(%s)", (xid,))
                    status = cur.fetchone()[0]
                    if status != "in progress" or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
            self.con.commit()
        except (LoadError, psycopg2.Error):
            self._drop_connection()
            status = None
        if status == "committed":
            self.logger.warning("%s; the server committed it (transaction %d): it is in the table", lost, xid)
            return
        if status == "aborted":
            raise LoadError(
                f"{lost}; the server rolled it back (transaction {xid}): nothing of it is in the table"
            )
        known = "the server could not be asked again" if status is None else f"the server says {status!r}"
        raise LoadError(
            f"{lost}; {known}, so it may or may not be in the table: look for its records there "
            f"before loading them again (transaction {xid})"
        )

    def _check(self, cur: Any, table: Table, batch: Batch) -> None:
        """Refuse the batch at its first bad record: a missing key, a value its column cannot hold."""
        if table.keys:
            missing = sql.SQL(" OR ").join(
                sql.SQL("coalesce(jsonb_typeof(data -> {}), 'null') = 'null'").format(sql.Literal(k))
                for k in table.keys
            )
            cur.execute(
                sql.SQL("SELECT seq, data::text, data FROM {} WHERE {} ORDER BY seq LIMIT 1").format(
                    STAGE, missing
                )
            )
            row = cur.fetchone()
            if row is not None:
                absent = [k for k in table.keys if row[2].get(k) is None] or list(table.keys)
                raise LoadError(
                    f"stream {table.stream!r}: a record of {batch.what} has no value for key "
                    f"propert{'y' if len(absent) == 1 else 'ies'} {', '.join(map(repr, absent))} "
                    f"(null or missing): {short(row[1])}"
                )
        query = self._check_sql(table)
        if query is None:
            return
        cur.execute(query)
        row = cur.fetchone()
        if row is not None:
            name, record = row
            column = table.column(name)
            raise LoadError(
                f"stream {table.stream!r}: record {describe_key(record, table.keys)}: property {name!r} is "
                f"{short(record.get(name))}, which is not a valid {column.kind} ({TYPES[column.kind]}"
                + (f": {ISO_RULE[column.kind]})" if column.kind in ISO_RULE else ")")
            )

    @staticmethod
    def _check_sql(table: Table) -> sql.Composed | None:
        """The first staged record with a value its column cannot hold, and that column's name (None when
        no column has a type to check).

        Each property is looked up once a record, its JSON type and (for dates and times) its text taken
        once, in subqueries the planner keeps apart (OFFSET 0); written inline, the server looked each one
        up again for every test of it (with the integer test dropped, see JSON_TYPES, the check of 250,000
        records of the projects API went from 2.3-2.6 s to 1.5-1.7 s of the server's time)."""
        checks: list[sql.Composable] = []
        values: list[sql.Composable] = []
        types: list[sql.Composable] = []
        texts: list[sql.Composable] = []
        for i, column in enumerate(table.columns):
            accepted = JSON_TYPES.get(column.kind)
            if accepted is None:
                continue
            v, t, s = (sql.Identifier(f"{prefix}{i}") for prefix in "vts")
            values.append(sql.SQL("s.data -> {} AS {}").format(sql.Literal(column.name), v))
            types.append(sql.SQL("jsonb_typeof(x.{}) AS {}").format(v, t))
            wrong = sql.SQL("{} NOT IN ('null', {})").format(t, sql.Literal(accepted))
            if column.kind in ISO_PREFIX:
                texts.append(sql.SQL("s.data ->> {} AS {}").format(sql.Literal(column.name), s))
                wrong += sql.SQL(" OR ({} = 'string' AND {})").format(t, iso_wrong(column.kind, s))
            checks.append(sql.SQL("WHEN {} THEN {}").format(wrong, sql.Literal(column.name)))
        if not checks:
            return None
        # A select list holds at most 1,664 entries, and so does a row the server sorts (a table holds up
        # to 1,600 columns): the types and texts go in as few subqueries as fit them (each costs about
        # 1.6 µs a record). When all of them and the record would not fit one row, only the verdict
        # leaves the subquery that joins them (a subquery more: a sixth more time).
        lateral = sql.SQL(" CROSS JOIN LATERAL (SELECT {} OFFSET 0) {}")
        derived = types + texts
        chunks = [
            lateral.format(
                sql.SQL(", ").join(derived[start : start + SELECT_LIST_MAX]), sql.Identifier(f"y{n}")
            )
            for n, start in enumerate(range(0, len(derived), SELECT_LIST_MAX))
        ]
        case = sql.SQL("CASE {} END").format(sql.SQL(" ").join(checks))
        values_list = sql.SQL(", ").join(values)
        if len(values) + len(derived) + 3 <= SELECT_LIST_MAX:
            return sql.SQL(
                "SELECT bad, data FROM (SELECT s.seq, s.data, {} AS bad FROM {} s "
                "CROSS JOIN LATERAL (SELECT {} OFFSET 0) x{}) AS c WHERE bad IS NOT NULL ORDER BY seq LIMIT 1"
            ).format(case, STAGE, values_list, sql.Composed(chunks))
        return sql.SQL(
            "SELECT c.bad, s.data FROM {} s CROSS JOIN LATERAL (SELECT {} AS bad FROM "
            "(SELECT {} OFFSET 0) x{} OFFSET 0) c WHERE c.bad IS NOT NULL ORDER BY s.seq LIMIT 1"
        ).format(STAGE, case, values_list, sql.Composed(chunks))

    def _diagnose(self, cur: Any, table: Table, exc: psycopg2.Error) -> str:
        """The first staged record the table's types refuse (only after a failure): a bisection over the
        staged rows, each probe in a savepoint, all of it set-wise in the server (no function bodies)."""
        probe = sql.SQL(
            "SELECT count(*) FROM {} s CROSS JOIN LATERAL jsonb_populate_record(NULL::{}, s.data) AS r "
            "WHERE s.seq BETWEEN %s AND %s"
        ).format(STAGE, self._table(table))

        def refused(low: int, high: int) -> str | None:
            cur.execute("SAVEPOINT loaderkit_probe")
            try:
                cur.execute(probe, (low, high))
            except psycopg2.DataError as error:
                cur.execute("ROLLBACK TO SAVEPOINT loaderkit_probe")
                return _first_line(error)
            cur.execute("RELEASE SAVEPOINT loaderkit_probe")
            return None

        cur.execute(sql.SQL("SELECT min(seq), max(seq) FROM {}").format(STAGE))
        low, high = cur.fetchone()
        if low is None or refused(low, high) is None:
            return f"the merge failed: {_first_line(exc)}"
        first = low
        while low < high:  # the first failing row is in [low, high]
            middle = (low + high) // 2
            if refused(first, middle) is not None:
                high = middle
            else:
                low = middle + 1
        error = refused(low, low) or _first_line(exc)
        cur.execute(sql.SQL("SELECT data FROM {} WHERE seq = %s").format(STAGE), (low,))
        record = cur.fetchone()[0]
        # The property the type refuses: that record's values one at a time (a handful of probes).
        single = sql.SQL(
            "SELECT jsonb_populate_record(NULL::{}, jsonb_build_object(%s, data -> %s)) "
            "FROM {} WHERE seq = %s"
        ).format(self._table(table), STAGE)
        for column in table.columns:
            if column.name not in record:
                continue
            cur.execute("SAVEPOINT loaderkit_probe")
            try:
                cur.execute(single, (column.name, column.name, low))
            except psycopg2.DataError as failed:
                cur.execute("ROLLBACK TO SAVEPOINT loaderkit_probe")
                return (
                    f"record {describe_key(record, table.keys)}: property {column.name!r} is "
                    f"{short(record[column.name])}, which {TYPES[column.kind]} cannot hold: "
                    f"{_first_line(failed)}"
                )
            cur.execute("RELEASE SAVEPOINT loaderkit_probe")
        return f"record {describe_key(record, table.keys)}: {error}"

    def _merge_sql(self, table: Table) -> sql.Composed:
        target = self._table(table)
        names = _idents(c.name for c in table.columns)
        values = sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(c.name)) for c in table.columns)
        source = sql.SQL("FROM {} s CROSS JOIN LATERAL jsonb_populate_record(NULL::{}, s.data) AS r").format(
            STAGE, target
        )
        if not table.keys:
            return sql.SQL("INSERT INTO {} ({}) SELECT {} {} ORDER BY s.seq").format(
                target, names, values, source
            )
        keys = sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(k)) for k in table.keys)
        others = [c.name for c in table.columns if c.name not in table.keys]
        action = (
            sql.SQL("DO UPDATE SET ")
            + sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in others)
            if others
            else sql.SQL("DO NOTHING")
        )
        return sql.SQL(
            "INSERT INTO {} ({}) SELECT DISTINCT ON ({}) {} {} ORDER BY {}, s.seq DESC ON CONFLICT ({}) {}"
        ).format(target, names, keys, values, source, keys, _idents(table.keys), action)

    def close(self) -> None:
        super().close()
        self._drop_connection()
        if self._cert_dir is not None:
            shutil.rmtree(self._cert_dir, ignore_errors=True)
            self._cert_dir = None


def _holding_nul(record: dict[str, Any]) -> tuple[str, Any] | None:
    """The first top-level property whose value (or whose name) holds a \\u0000 anywhere inside."""

    def holds(value: Any) -> bool:
        if isinstance(value, str):
            return "\x00" in value
        if isinstance(value, dict):
            return any(holds(k) or holds(v) for k, v in value.items())
        if isinstance(value, list):
            return any(holds(v) for v in value)
        return False

    return next(((k, v) for k, v in record.items() if holds(k) or holds(v)), None)


def _idents(names: Any) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)
