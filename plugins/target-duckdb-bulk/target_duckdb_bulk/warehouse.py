"""DuckDB: spool files read by DuckDB itself, checked set-wise, merged by one MERGE in one transaction.

Each line of a spool (or BATCH) file is read as text by `read_csv` and parsed by `from_json` against a
structure built from the stream's schema. Unlike `read_json`, which turns every JSON number into a
double first, `from_json` reads a number straight into DECIMAL, so every digit a tap sent survives.
One multi-path `json_extract` gives each checked value's JSON text, to check types set-wise while
staging: a value whose JSON type is not its column's (`"5"` for an integer, `1` for a boolean, `123` for
a string) fails the batch naming stream, key, property and value; nothing is coerced.

Inside a `JSON` value `from_json` reads numbers as doubles. So a line whose JSON columns hold a digit is
parsed once more with every number turned into a marked string first (a regular expression that steps
over strings whole), and the marks are taken off the JSON text again: the nested numbers are stored as
the tap wrote them. The rare line this cannot serve (a key repeated at the top level or inside a JSON
column, where JSON's last value must win, or a line that already holds the mark) is decoded in Python and
staged again, set-wise from a file.
"""

from __future__ import annotations

import contextlib
import decimal
import json
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import msgspec

from loaderkit import Batch, Column, Kind, LoadError, Table, Warehouse, describe_key
from loaderkit.errors import CommittedLoadError, short
from loaderkit.warehouse import recorded_in, stream_comment

# JSON-schema `number`: 38 digits, 18 after the point. Every digit a tap sends is kept, up to 20 before and
# 18 after the point; a value needing more is refused with its stream, key and column, never rounded.
NUMBER_PRECISION, NUMBER_SCALE = 38, 18
TYPES = {
    Kind.INTEGER: "BIGINT",
    Kind.NUMBER: f"DECIMAL({NUMBER_PRECISION},{NUMBER_SCALE})",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.STRING: "VARCHAR",
    Kind.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
    Kind.DATE: "DATE",
    Kind.TIME: "TIME",
    Kind.JSON: "JSON",
}
# Kinds whose values are checked against their JSON text (a JSON column takes any value).
CHECKED = frozenset(
    {Kind.INTEGER, Kind.NUMBER, Kind.BOOLEAN, Kind.STRING, Kind.TIMESTAMP, Kind.DATE, Kind.TIME}
)
# A line with a number that might not fit DECIMAL(38,18) exactly: 21+ digits, 19+ after the point, or an
# exponent. Only such lines (rare) are parsed in Python to check the number columns digit for digit.
SUSPECT_NUMBER = r"[:\[,]\s*-?(\d{21}|\d*\.\d{19}|\d+(\.\d+)?[eE])"
# What the JSON text of a date, time or date-time value must start with (a string, not 'infinity'); a
# date is a date alone (DuckDB would drop a time after it).
ISO_PREFIX = {
    Kind.TIMESTAMP: r'^"\d{4}-\d{2}-\d{2}',
    Kind.DATE: r'^"\d{4}-\d{2}-\d{2}"$',
    Kind.TIME: r'^"\d{2}:\d{2}',
}
# A date-time RFC 3339 allows that DuckDB does not read: a lower-case t or z (read as upper case).
LOWER_CASE_RFC_3339 = r'^"\d{4}-\d{2}-\d{2}(t[0-9:.]+[zZ]?|T[0-9:.]+z)([+-][0-9:]+)?"$'
# What it must not hold, as DuckDB would change the value without a word: a non-zero digit beyond the
# microseconds the column keeps (cut off), in a time an offset other than UTC's (dropped: TIME has no zone).
_PAST_MICROSECONDS = r"\.[0-9]{6}0*[1-9]"
ISO_WRONG = {
    Kind.TIMESTAMP: _PAST_MICROSECONDS,
    Kind.TIME: _PAST_MICROSECONDS + r"|[+-]([1-9]|0[1-9]|00:?([1-9]|0[1-9]))",
}
# Why a date, time or date-time DuckDB could read is still refused, for the error line.
ISO_RULE = {
    Kind.TIMESTAMP: "an ISO 8601 date-time, at most 6 fractional digits",
    Kind.DATE: "an ISO 8601 date alone, YYYY-MM-DD",
    Kind.TIME: "an ISO 8601 time, at most 6 fractional digits, no offset but UTC's",
}
# One match per step through a JSON line: everything up to the next number (strings taken whole, so a
# digit inside one is never touched), then that number, if any. Each number becomes the string
# MARK + number; UNMARK takes such strings back to the number's text.
NUMBER_TOKEN = r'((?:"(?:[^"\\]|\\.)*"|[^"0-9-])*)(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)?'
# A JSON column's text as DuckDB writes it back (`from_json` reads the column with yyjson, then writes
# it anew) that may not be the numbers as sent: a double (DuckDB writes each with a point or an
# exponent: 1.10000000000000000001 reads 1.1, 1E2 reads 100.0) or a zero (-0 reads 0). Integers it
# writes as sent, and a number no double or 64-bit integer holds (1e400, 2**64) keeps its text. Only
# lines with such a column (digits in strings aside: "Suite 5.2" matches too, and costs only time) are
# read the slow, exact way: of 200,000 sandbox jobs none, against 191,328 when any digit counted (the
# stage of those jobs 1.6-1.9x faster).
NUMBER_AT_RISK = r"[0-9][.eE]|(^|[\[:,])0($|[\],}])"
MARK_ESCAPE = "\\u0001"  # the JSON escape of the mark, U+0001, as it reads in a line
UNMARK = r'"\\u0001(-?[0-9][0-9.eE+-]*)"'
# A DECIMAL's text without the zeros its scale pads it with: 1.500000000000000000 -> 1.5, 2.000 -> 2.
DECIMAL_TEXT = r"regexp_replace(regexp_replace({}::VARCHAR, '(\.[0-9]*?)0+$', '\1'), '\.$', '')"
STAGE = "loaderkit_stage"
# DuckDB memory a batch needs per column of its table, rows aside (the stage's buffers; see _memory_hint).
MB_PER_COLUMN = 0.36
DEFAULT_MEMORY_LIMIT = "256MB"
# The longest record line DuckDB reads (its default is 2 MB); read buffers are twice that.
MAX_LINE_BYTES = 16 << 20
_decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)
_encoder = msgspec.json.Encoder(decimal_format="number")
_MAX_INTEGER = decimal.Decimal(10) ** (NUMBER_PRECISION - NUMBER_SCALE)


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def fits_number(value: Any) -> bool:
    """Whether DECIMAL(38,18) holds `value` without rounding or overflow."""
    if isinstance(value, bool) or not isinstance(value, int | decimal.Decimal):
        return True  # not a number: the type check reports it
    number = decimal.Decimal(value)
    if not number.is_finite() or number.copy_abs() >= _MAX_INTEGER:  # (abs() would round to 28 digits)
        return False
    # The digits after the point, trailing zeros aside, counted exactly: `normalize()` would first round
    # to the context's 28 digits, and 0.100000000000000000000000000001 would pass as 0.1.
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return exponent + zeros >= -NUMBER_SCALE or not any(digits)


class DuckDBWarehouse(Warehouse):
    types = TYPES
    case_insensitive_identifiers = True

    def __init__(self, config: Any, logger: Any) -> None:
        super().__init__(config, logger)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._keys_checked: set[tuple[str, str, tuple[str, ...]]] = set()

    @property
    def _memory_limit(self) -> str:
        return f"SET memory_limit = {literal(self.config.get('memory_limit') or DEFAULT_MEMORY_LIMIT)}"

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            path = Path(self.config["filepath"]).expanduser()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._con = duckdb.connect(str(path))
                self._con.execute(self._memory_limit)
                # DuckDB's allocator (its own jemalloc) then hands freed pages back to the system as it
                # goes, not only when a later allocation happens to trigger it.
                self._con.execute("SET allocator_background_threads = true")
                self._con.execute("SET preserve_insertion_order = true")
                # A date-time without a zone is UTC, whatever the machine's zone (TZ) says.
                self._con.execute("SET TimeZone = 'UTC'")
            except (duckdb.Error, OSError) as exc:
                raise LoadError(f"cannot open DuckDB file {path}: {_first_line(exc)}") from None
        return self._con

    # -- tables ---------------------------------------------------------------------------------

    def existing_columns(self, table: Table) -> dict[str, Kind | None] | None:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [table.schema, table.name],
        ).fetchall()
        if not rows:
            return None
        return {name: self.kind_of_type(data_type) for name, data_type in rows}

    def _ddl(self, table: Table, statements: Sequence[str]) -> None:
        try:
            self.con.execute("BEGIN TRANSACTION")
            for statement in statements:
                self.con.execute(statement)
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            raise LoadError(
                f"stream {table.stream!r}: preparing table {self.qualified(table)} failed: {_first_line(exc)}"
            ) from None

    def create_table(self, table: Table) -> None:
        columns = ", ".join(f"{self.quote(c.name)} {TYPES[c.kind]}" for c in table.columns)
        self._ddl(
            table,
            [
                f"CREATE SCHEMA IF NOT EXISTS {self.quote(table.schema)}",
                f"CREATE TABLE IF NOT EXISTS {self.qualified(table)} ({columns})",
            ],
        )

    def alter_table(self, table: Table, add: list[Column], widen: list[Column]) -> None:
        name = self.qualified(table)
        existing = self.existing_columns(table) or {} if widen else {}
        self._ddl(
            table,
            [f"ALTER TABLE {name} ADD COLUMN {self.quote(c.name)} {TYPES[c.kind]}" for c in add]
            + [
                f"ALTER TABLE {name} ALTER COLUMN {self.quote(c.name)} TYPE {TYPES[c.kind]} "
                f"USING {_widened(self.quote(c.name), existing.get(c.name), c.kind)}"
                for c in widen
            ],
        )

    def is_empty(self, table: Table) -> bool:
        return self.con.execute(f"SELECT 1 FROM {self.qualified(table)} LIMIT 1").fetchone() is None

    def retype_empty(self, table: Table, columns: list[Column]) -> None:
        name = self.qualified(table)
        self._ddl(
            table,
            [
                f"ALTER TABLE {name} ALTER COLUMN {self.quote(c.name)} TYPE {TYPES[c.kind]} "
                f"USING NULL::{TYPES[c.kind]}"
                for c in columns
            ],
        )

    # -- the stream a table is written from (loaderkit.Warehouse.check_owner) --------------------

    def table_comment(self, table: Table) -> str | None:
        row = self.con.execute(
            "SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
            "AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?)",
            [table.schema, table.name],
        ).fetchone()
        return row[0] if row else None

    def set_table_comment(self, table: Table, comment: str) -> None:
        self._ddl(table, [f"COMMENT ON TABLE {self.qualified(table)} IS {literal(comment)}"])

    def prepare(self, table: Table) -> None:
        if self._prepared.get((table.schema, table.name)) == table:
            return  # this shape checked and prepared in this run (the file is ours alone while open)
        if table.keys:
            self.check_owner(table)  # another stream's table is refused before its comment is touched
            self._check_keys(table)
        super().prepare(table)

    def _check_keys(self, table: Table) -> None:
        """Refuse to merge on other key properties than the table's rows were merged on: a merge on
        `region` over rows keyed on `id` would replace every row of a region with one. The keys are
        recorded in the table's comment; a table without that record (made before it, or by someone
        else) is merged on the stream's keys only when its rows hold each key once."""
        marker = (table.schema, table.name, table.keys)
        if marker in self._keys_checked or self.existing_columns(table) is None:
            return  # checked already, or no table yet: the kit creates it and records its keys
        target = self.qualified(table)
        text = self.table_comment(table) or ""
        ours = recorded_in(text)
        recorded = list(ours.keys) if ours else None
        if recorded != list(table.keys):
            has_rows = self.con.execute(f"SELECT 1 FROM {target} LIMIT 1").fetchone() is not None
            keys = ", ".join(map(self.quote, table.keys))
            repeated = has_rows and (
                recorded is not None
                or self.con.execute(
                    f"SELECT 1 FROM {target} GROUP BY {keys} HAVING count(*) > 1 "
                    f"OR bool_or({' OR '.join(f'{self.quote(k)} IS NULL' for k in table.keys)}) LIMIT 1"
                ).fetchone()
                is not None
            )
            if repeated:
                was = f"on ({', '.join(recorded)})" if recorded else "without"
                raise LoadError(
                    f"stream {table.stream!r}: table {target} holds rows merged {was} key properties, "
                    f"not on ({', '.join(table.keys)}), so records cannot be merged on it: keep the key "
                    "properties, or drop the table"
                )
            if ours is None and text:
                self.logger.info("stream %r: table %s keeps its own comment", table.stream, target)
            else:
                self.set_table_comment(table, stream_comment(table.stream, table.keys))
        self._keys_checked.add(marker)

    # -- loads ----------------------------------------------------------------------------------

    def load(self, table: Table, batch: Batch) -> int:
        con = self.con
        committed = False
        rows = 0
        try:
            con.execute(self._stage_sql(table, batch))
            self._restage(table)
            self._check(table, batch)
            rows = int(con.execute(f"SELECT count(*) FROM {STAGE}").fetchone()[0])  # type: ignore[index]
            con.execute("BEGIN TRANSACTION")
            try:
                for statement in self._merge_sql(table):
                    con.execute(statement)
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
            committed = True
            # Write the batch into the database file now: DuckDB then drops the WAL and the batch's
            # in-memory copy (measured: peak RSS grew 1.45x from 100,000 to 1,000,000 rows without this).
            con.execute("CHECKPOINT")
            self._release_memory()
        except duckdb.Error as exc:
            if committed:
                # COMMIT wrote the batch to DuckDB's write-ahead log; only the checkpoint (copying it into
                # the database file) failed. DuckDB replays the log when it next opens the file: the STATE
                # covering the batch is owed.
                raise CommittedLoadError(
                    f"stream {table.stream!r}: loading {batch.what} into {self.qualified(table)}: the "
                    f"{rows} rows are committed (in DuckDB's write-ahead log, replayed when the file is "
                    f"next opened), but writing them into the database file failed: {_first_line(exc)}"
                ) from None
            raise LoadError(
                f"stream {table.stream!r}: loading {batch.what} into {self.qualified(table)} failed, "
                f"nothing of it committed: {_first_line(exc)}"
                + (self._memory_hint(table) if isinstance(exc, duckdb.OutOfMemoryException) else "")
            ) from None
        finally:
            # (After a fatal error, a full disk, DuckDB refuses every statement: the message above says it.)
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DROP TABLE IF EXISTS {STAGE}")
        return rows

    def _memory_hint(self, table: Table) -> str:
        """What a batch of this table's width needs of memory_limit: DuckDB gives each column of the
        stage its own buffers, whatever the rows (measured: one record of 1,599 string columns needs
        between 512 and 600 MB; 800 columns about 271 MB to stage)."""
        limit = self.config.get("memory_limit") or DEFAULT_MEMORY_LIMIT
        needed = 64 + len(table.columns) * MB_PER_COLUMN
        return (
            f" (a table of {len(table.columns)} columns needs about {needed:.0f} MB of DuckDB memory for a "
            f"batch, more with more rows; memory_limit is {limit}: raise it)"
        )

    def _release_memory(self) -> None:
        """Hand what the load used back to the system before the next load, so memory does not grow
        with the table. Two things stay behind otherwise (measured over ten loads of 100,000 rows:
        resident memory between loads rose from 150 to 176 MB, the peak from 152 to 194 MB, 1.28x):
        the table's blocks the load read or wrote stay cached up to memory_limit, and freed memory
        stays with DuckDB's allocator (its own jemalloc). Lowering the memory limit evicts every block
        nothing uses (the next load reads what it needs from the file), and setting it, to any value,
        makes DuckDB flush its allocator: resident memory is back within a few MB of where it was
        before the load after every load (plugins/target-duckdb-bulk/tests/test_duckdb_memory.py)."""
        # (When something is still in use this fails, having evicted what it could.)
        with contextlib.suppress(duckdb.Error):
            self.con.execute("SET memory_limit = '1MB'")
        self.con.execute(self._memory_limit)

    # -- staging --------------------------------------------------------------------------------
    #
    # The stage has one row per line: `v` the typed values, `bad` the first checked column whose value its
    # type cannot hold (NULL on a good line), `r` the JSON text of each checked value (kept only where a
    # message or Python's second staging may need it), `x` the exact JSON text of each JSON column (NULL
    # where `v` holds it already, with no digit in it), `suspect` a line whose numbers need a digit-by-digit
    # check, `fix` a line Python must stage again.
    #
    # Each function of a line parses it once: `from_json` for `v`, one multi-path `json_extract` for `r`
    # (cheaper than a second `from_json` into a structure of JSON), `json_keys` for the repeated-key test.

    @staticmethod
    def _structures(table: Table) -> tuple[str, str, str]:
        """The `from_json` structure of `v`, the `json_extract` paths of `r`, and the JSON columns'
        structure for their exact parse."""
        typed = json.dumps({c.name: TYPES[c.kind].replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
                            for c in table.columns})  # fmt: skip
        # JSON Pointers (RFC 6901): any property name, dots, quotes and spaces included, needs only ~ and /
        # escaped.
        pointers = [
            "/" + c.name.replace("~", "~0").replace("/", "~1") for c in table.columns if c.kind in CHECKED
        ]
        raw = "[" + ", ".join(map(literal, pointers)) + "]" if pointers else ""
        exact = json.dumps({c.name: "JSON" for c in table.columns if c.kind is Kind.JSON})
        return typed, raw, exact

    def _typed_sql(self, table: Table, line: str) -> tuple[str, str, str]:
        """`v`, `r` and the repeated-key test of the line `line` (SQL)."""
        typed, raw, _ = self._structures(table)
        v = f"from_json({line}, {literal(typed)})"
        r = f"json_extract({line}, {raw})" if raw else "NULL::VARCHAR[]"
        # A key repeated at the top level (from_json would keep the first value, JSON's rule is the
        # last): a line has one only if it has more keys than it has properties of the schema, counted
        # from `r` (a property sent as null is there) and the JSON columns of `v` (one sent as null is
        # counted as absent: such a line is merely looked at more closely).
        json_present = " + ".join(
            f"({self._field('v', c.name)} IS NOT NULL)::INTEGER" for c in table.columns if c.kind is Kind.JSON
        )
        present = f"coalesce(list_count(r), 0){' + ' + json_present if json_present else ''}"
        repeated = (
            f"(len(json_keys({line})) > {present} "
            f"AND len(list_distinct(json_keys({line}))) < len(json_keys({line})))"
        )
        return v, r, repeated

    def _bad_sql(self, table: Table) -> str:
        """SQL naming the first checked column whose value its type cannot hold, NULL for a good row
        (over a row with `v`, and `r1`, `r2`, .. the elements of `r`)."""
        checked = [c for c in table.columns if c.kind in CHECKED]
        whens = " ".join(
            f"WHEN {self._violation(c, f'r{i + 1}')} THEN {literal(c.name)}" for i, c in enumerate(checked)
        )
        return f"CASE {whens} END" if whens else "NULL::VARCHAR"

    @staticmethod
    def _r_columns(table: Table) -> str:
        """`r`'s elements as columns r1, r2, .. (each taken out of the list once)."""
        count = sum(c.kind in CHECKED for c in table.columns)
        return "".join(f", r[{i + 1}] AS r{i + 1}" for i in range(count))

    def _stage_sql(self, table: Table, batch: Batch) -> str:
        _, _, exact = self._structures(table)
        json_columns = [c for c in table.columns if c.kind is Kind.JSON]
        paths = "[" + ", ".join(literal(str(f.path)) for f in batch.files) + "]"
        compression = "gzip" if batch.files and batch.files[0].gzip else "none"
        # On the line's text: `r` holds numbers as doubles (0.1000000000000000055511 reads 0.1 there).
        suspect = (
            f"CASE WHEN regexp_matches(line, {literal(SUSPECT_NUMBER)}) THEN line END"
            if any(c.kind is Kind.NUMBER for c in table.columns)
            else "NULL::VARCHAR"
        )
        # Every line as one VARCHAR: no delimiter or quote a JSON line can hold (JSON escapes control
        # characters), so read_csv splits lines and nothing else.
        source = (
            f"read_csv({paths}, columns={{'line': 'VARCHAR'}}, header = false, delim = chr(1), "
            f"quote = '', escape = '', auto_detect = false, compression = '{compression}', "
            f"max_line_size = {MAX_LINE_BYTES}, buffer_size = {2 * MAX_LINE_BYTES})"
        )
        v, r, repeated = self._typed_sql(table, "line")
        # Each JSON column's text, cast once (`t0`, `t1`, ..).
        texts = "".join(f", {self._field('v', c.name)}::VARCHAR AS t{i}" for i, c in enumerate(json_columns))
        if json_columns:
            pattern = literal(NUMBER_AT_RISK)
            at_risk = " OR ".join(f"regexp_matches(t{i}, {pattern})" for i in range(len(json_columns)))
            has_mark = f"contains(line, {literal(MARK_ESCAPE)})"
            marked = (
                f"replace(replace(replace(regexp_replace(line, {literal(NUMBER_TOKEN)}, "
                "'\\1' || chr(2) || '\\2' || chr(3), 'g'), chr(2) || chr(3), ''), chr(2), "
                f"'\"' || {literal(MARK_ESCAPE)}), chr(3), '\"')"
            )
            exact_sql = (
                f"CASE WHEN ({at_risk}) AND NOT {has_mark} THEN from_json({marked}, {literal(exact)}) END"
            )
            # A key repeated inside a JSON column (DuckDB's JSON functions read its first value, JSON's
            # rule is the last): Python stages such lines again, as lines with a key repeated at the top.
            nested = " OR ".join(_nested_repeat(f"t{i}") for i in range(len(json_columns)))
            fix = f"CASE WHEN {repeated} OR {nested} OR (({at_risk}) AND {has_mark}) THEN line END"
            fields = ", ".join(
                f"{self.quote(f'j{i}')} := regexp_replace({self._field('e', c.name)}::VARCHAR, "
                f"{literal(UNMARK)}, '\\1', 'g')"
                for i, c in enumerate(json_columns)
            )
            x = f"CASE WHEN e IS NOT NULL THEN struct_pack({fields}) END"
        else:
            exact_sql, fix, x = "NULL", f"CASE WHEN {repeated} THEN line END", "NULL"
        return (
            f"CREATE OR REPLACE TEMP TABLE {STAGE} AS SELECT v, "
            f"CASE WHEN bad IS NOT NULL OR fix IS NOT NULL THEN r END AS r, bad, "
            f"CASE WHEN bad IS NOT NULL THEN line END AS sent, {x} AS x, suspect, fix "
            f"FROM (SELECT line, v, r, {self._bad_sql(table)} AS bad, {exact_sql} AS e, "
            f"{suspect} AS suspect, {fix} AS fix FROM (SELECT *{self._r_columns(table)}{texts} FROM ("
            f"SELECT line, {v} AS v, {r} AS r FROM {source})))"
        )

    def _restage(self, table: Table) -> None:
        """Stage again, from Python's reading, the rare lines DuckDB's cannot serve exactly: a key
        repeated at the top level or inside a JSON column (the last value wins), JSON columns in a line
        that holds the mark. Python's reading of each goes to a file DuckDB reads, set-wise."""
        con = self.con
        fixes = con.execute(f"SELECT rowid, fix FROM {STAGE} WHERE fix IS NOT NULL ORDER BY rowid").fetchall()
        if not fixes:
            return
        json_columns = [c.name for c in table.columns if c.kind is Kind.JSON]
        suspect = re.compile(SUSPECT_NUMBER)
        # One line per fixed row: its rowid, whether its numbers need a check, the line as Python reads
        # it, the exact text of each JSON column (empty for none), separated by chr(1), which no JSON
        # text holds unescaped.
        with tempfile.NamedTemporaryFile(
            "w", dir=self.spool_dir, prefix="restage-", suffix=".txt", delete=False, encoding="utf-8"
        ) as out:
            path = Path(out.name)
            for rowid, line in fixes:
                try:
                    record = _decoder.decode(line)
                except msgspec.DecodeError:
                    continue  # not JSON: the typed parse has failed on it already
                if not isinstance(record, dict):
                    continue
                text = _encoder.encode(record).decode()
                exact = [
                    "" if record.get(n) is None else _encoder.encode(record[n]).decode() for n in json_columns
                ]
                out.write(
                    "\x01".join([str(rowid), "1" if suspect.search(text) else "0", text, *exact]) + "\n"
                )
        try:
            v, r, _ = self._typed_sql(table, "line")
            names = {"row": "BIGINT", "s": "INTEGER", "line": "VARCHAR"} | {
                f"j{i}": "VARCHAR" for i in range(len(json_columns))
            }
            columns = "{" + ", ".join(f"{literal(n)}: {literal(t)}" for n, t in names.items()) + "}"
            fields = ", ".join(
                f"{self.quote(f'j{i}')} := {self.quote(f'j{i}')}" for i in range(len(json_columns))
            )
            x = f"struct_pack({fields})" if fields else "NULL"
            source = (
                f"read_csv({literal(str(path))}, columns = {columns}, header = false, delim = chr(1), "
                f"quote = '', escape = '', auto_detect = false, max_line_size = {MAX_LINE_BYTES}, "
                f"buffer_size = {2 * MAX_LINE_BYTES})"
            )
            con.execute(
                f"UPDATE {STAGE} SET v = f.v, r = f.r, x = f.x, suspect = f.suspect FROM (SELECT row, "
                f"{v} AS v, {r} AS r, {x} AS x, CASE WHEN s = 1 THEN line END AS suspect FROM {source}) AS f "
                f"WHERE {STAGE}.rowid = f.row"
            )
        finally:
            path.unlink(missing_ok=True)
        # The restaged values checked again.
        con.execute(
            f"UPDATE {STAGE} SET bad = s.bad, fix = NULL FROM (SELECT rowid AS row, "
            f"{self._bad_sql(table)} AS bad FROM (SELECT rowid, *{self._r_columns(table)} FROM {STAGE} "
            "WHERE fix IS NOT NULL)) AS s "
            f"WHERE {STAGE}.rowid = s.row"
        )

    @staticmethod
    def _field(struct: str, name: str) -> str:
        return f"struct_extract({struct}, {literal(name)})"

    def _violation(self, column: Column, raw: str) -> str:
        """SQL true for a staged row whose value of `column` (JSON text `raw`) its type cannot hold: the
        value must be of the column's JSON type (nothing is coerced), and its typed parse must keep it."""
        typed = self._field("v", column.name)
        if column.kind is Kind.INTEGER:  # 1.5, "5" or true would become 2, 5 or 1: refused
            bad = f"{typed} IS NULL OR {typed}::VARCHAR <> {raw}"
        elif column.kind is Kind.NUMBER:  # "12.5" is text, not a number
            bad = f"{typed} IS NULL OR NOT (ascii({raw}) BETWEEN 48 AND 57 OR ascii({raw}) = 45)"  # 0-9, -
        elif column.kind is Kind.BOOLEAN:  # "yes" and 1 are not booleans
            bad = f"{raw} NOT IN ('true', 'false')"
        elif column.kind is Kind.STRING:  # 123 or {"a":1} are not strings
            bad = f"NOT starts_with({raw}, '\"')"
        else:  # a string in ISO form, not 'infinity' or 'epoch', which DuckDB would also read
            bad = f"{typed} IS NULL OR NOT regexp_matches({raw}, {literal(ISO_PREFIX[column.kind])})"
            if column.kind in ISO_WRONG:
                bad += f" OR regexp_matches({raw}, {literal(ISO_WRONG[column.kind])})"
        return f"({raw} IS NOT NULL AND {raw} <> 'null' AND ({bad}))"

    def _check(self, table: Table, batch: Batch) -> None:
        """Refuse the batch at its first bad record: a missing key, a value its column cannot hold."""
        con = self.con
        if table.keys:
            missing = " OR ".join(f"{self._field('v', k)} IS NULL" for k in table.keys)
            row = con.execute(
                f"SELECT rowid, to_json(v)::VARCHAR FROM {STAGE} WHERE {missing} ORDER BY rowid LIMIT 1"
            ).fetchone()
            if row is not None:
                values = json.loads(row[1])
                absent = [k for k in table.keys if values.get(k) is None] or list(table.keys)
                raise LoadError(
                    f"stream {table.stream!r}: record {row[0] + 1} of {batch.what} has no value for key "
                    f"propert{'y' if len(absent) == 1 else 'ies'} {', '.join(map(repr, absent))}: "
                    f"{short(row[1])}"
                )
        checked = [c.name for c in table.columns if c.kind in CHECKED]
        repaired: set[str] = set()
        while True:
            bad = con.execute(
                f"SELECT bad, to_json(v)::VARCHAR, r, sent FROM {STAGE} WHERE bad IS NOT NULL "
                "ORDER BY rowid LIMIT 1"
            ).fetchone()
            if bad is None:
                break
            name, typed, raw = bad[0], json.loads(bad[1]), bad[2]
            column = table.column(name)
            if name not in repaired and self._repair(table, column):
                repaired.add(name)  # values the typed parse misread, read again: check the batch again
                continue
            sent = _sent(bad[3])
            if sent is not None:  # the record as the tap sent it
                value, where = sent.get(name), describe_key(sent, table.keys)
                with contextlib.suppress(ValueError):  # each number as written: 1e400, not 1E+400
                    value = _as_sent(bad[3]).get(name, value)
            else:
                value = json.loads(raw[checked.index(name)])

                keys = {  # as sent, where the typed parse refused it
                    k: json.loads(raw[checked.index(k)])
                    if typed.get(k) is None and k in checked and raw[checked.index(k)] is not None
                    else typed.get(k)
                    for k in table.keys
                }
                where = describe_key(keys, table.keys)
            raise LoadError(
                f"stream {table.stream!r}: record {where}: "
                f"property {name!r} is {short(value)}, which is not a valid {column.kind} "
                f"({TYPES[column.kind]}" + (f": {ISO_RULE[column.kind]})" if column.kind in ISO_RULE else ")")
            )
        numbers = [c.name for c in table.columns if c.kind is Kind.NUMBER]
        if numbers:
            for (line,) in con.execute(
                f"SELECT suspect FROM {STAGE} WHERE suspect IS NOT NULL ORDER BY rowid"
            ).fetchall():
                record = _decoder.decode(line)
                for name in numbers:
                    if not fits_number(record.get(name)):
                        raise LoadError(
                            f"stream {table.stream!r}: record {describe_key(record, table.keys)}: property "
                            f"{name!r} is {record[name]}, which {TYPES[Kind.NUMBER]} cannot hold without "
                            "rounding"
                        )

    def _repair(self, table: Table, column: Column) -> bool:
        """Read again, in the rare batch that needs it, values RFC 3339 and JSON allow but DuckDB's typed
        parse misreads: a date-time with a lower-case t or z (read as NULL), an integer written with an
        exponent (1E+2, read through a double); then check those rows again. Whether any was repaired."""
        checked = [c.name for c in table.columns if c.kind in CHECKED]
        i = checked.index(column.name) + 1  # its place in `r` (1-based)
        typed, raw, mine = self._field("v", column.name), f"r[{i}]::VARCHAR", f"bad = {literal(column.name)}"
        name = self.quote(column.name)
        if column.kind is Kind.TIMESTAMP:
            text = f"upper(r[{i}] ->> '$')"
            row = self.con.execute(
                f"UPDATE {STAGE} SET v = struct_update(v, {name} := {text}::TIMESTAMPTZ) "
                f"WHERE {mine} AND {typed} IS NULL AND regexp_matches({raw}, {literal(LOWER_CASE_RFC_3339)}) "
                f"AND TRY_CAST({text} AS TIMESTAMPTZ) IS NOT NULL"
            ).fetchone()
            repaired = bool(row and row[0])
        elif column.kind is Kind.INTEGER:
            exact = []
            for rowid, text, line in self.con.execute(
                f"SELECT rowid, {raw}, sent FROM {STAGE} WHERE {mine} AND json_type(r[{i}]) = 'DOUBLE'"
            ).fetchall():
                record = _sent(line)
                value = record.get(column.name) if record is not None else None
                # An integer as PostgreSQL's numeric reads it: no digit after the point once the exponent
                # is applied (1E+2, 1.5e1; not 100.0 or 1e-1), and within BIGINT; and the line's number is
                # the stage's (the same double).
                if isinstance(value, decimal.Decimal) and value.is_finite() and float(value) == float(text):
                    exponent = value.as_tuple().exponent
                    if isinstance(exponent, int) and exponent >= 0 and -(2**63) <= value < 2**63:
                        exact.append((int(value), str(int(value)), rowid))
            if exact:
                self.con.executemany(
                    f"UPDATE {STAGE} SET v = struct_update(v, {name} := $1::BIGINT), "
                    f"r = list_concat(list_slice(r, 1, {i - 1}), [$2::JSON], list_slice(r, {i + 1}, len(r))) "
                    "WHERE rowid = $3",
                    exact,
                )
            repaired = bool(exact)
        else:
            return False
        if repaired:
            self.con.execute(
                f"UPDATE {STAGE} SET bad = s.bad FROM (SELECT rowid AS row, {self._bad_sql(table)} AS bad "
                f"FROM (SELECT rowid, *{self._r_columns(table)} FROM {STAGE} WHERE bad IS NOT NULL)) AS s "
                f"WHERE {STAGE}.rowid = s.row"
            )
        return repaired

    def _value(self, table: Table, column: Column) -> str:
        """A staged row's value of `column`: JSON columns from their exact text where it was taken."""
        if column.kind is not Kind.JSON:
            return self._field("v", column.name)
        index = [c.name for c in table.columns if c.kind is Kind.JSON].index(column.name)
        exact = self._field("x", f"j{index}")
        return f"CASE WHEN x IS NULL THEN {self._field('v', column.name)} ELSE {exact}::JSON END"

    def _merge_sql(self, table: Table) -> list[str]:
        target = self.qualified(table)
        names = ", ".join(self.quote(c.name) for c in table.columns)
        if not table.keys:
            values = ", ".join(self._value(table, c) for c in table.columns)
            return [f"INSERT INTO {target} ({names}) SELECT {values} FROM {STAGE} ORDER BY rowid"]
        # The batch's last record of each key, in the columns the stream sends.
        columns = ", ".join(f"{self._value(table, c)} AS {self.quote(c.name)}" for c in table.columns)
        keys = ", ".join(self._field("v", k) for k in table.keys)
        # (Found by the keys alone, then the rows taken whole: a window over the whole row materialized
        # every column, and a record of 1,599 columns needed over 1 GB of memory for it.)
        latest = (
            f"SELECT {columns} FROM {STAGE} WHERE rowid IN (SELECT max(rowid) FROM {STAGE} GROUP BY {keys})"
        )
        # (The stage's columns named in full: the table may have a column named v.)
        probe = " AND ".join(f"t.{self.quote(k)} = {self._field(f'{STAGE}.v', k)}" for k in table.keys)
        if (
            self.con.execute(f"SELECT 1 FROM {target} AS t JOIN {STAGE} ON {probe} LIMIT 1").fetchone()
            is None
        ):
            # No key of the batch is in the table (a first load, new records): a plain insert, faster.
            return [f"INSERT INTO {target} ({names}) {latest}"]
        # Merge: a row whose key is in the batch gets the batch's last record of that key, in the columns
        # the stream sends (a column it no longer sends, or one a user added, keeps its value); a key the
        # table does not hold is inserted; every other row stays as it is.
        match = " AND ".join(f"{target}.{self.quote(k)} = s.{self.quote(k)}" for k in table.keys)
        others = [self.quote(c.name) for c in table.columns if c.name not in table.keys]
        inserted = ", ".join(f"s.{self.quote(c.name)}" for c in table.columns)
        update = "UPDATE SET " + ", ".join(f"{n} = s.{n}" for n in others) if others else "DO NOTHING"
        return [
            f"MERGE INTO {target} USING ({latest}) AS s ON ({match}) "
            f"WHEN MATCHED THEN {update} WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({inserted})"
        ]

    def close(self) -> None:
        super().close()
        if self._con is not None:
            self._con.close()
            self._con = None


def _sent(line: str | None) -> dict | None:
    """A staged line as Python reads it (numbers digit for digit, a repeated key's last value)."""
    if line is None:
        return None
    try:
        record = _decoder.decode(line)
    except msgspec.DecodeError:
        return None
    return record if isinstance(record, dict) else None


def _nested_repeat(text: str) -> str:
    """SQL true for JSON text (as DuckDB writes it: no spaces) that may hold a key twice in one object:
    it has two keys or more, and more keys than its json_structure, which merges a repeated key into one
    (and also an array's objects into one: then the line is merely staged again without need)."""
    keys = "(length({0}) - length(replace({0}, '\":', '')))"
    structure = f"json_structure({text})::VARCHAR"
    # CASE, not AND: DuckDB would compute json_structure of every row (its cost, 1 µs a row, is most of
    # a stage's); only text with two keys or more needs it.
    return (
        f"CASE WHEN strpos(substr({text}, strpos({text}, '\":') + 2), '\":') > 0 "
        f"THEN {keys.format(text)} > {keys.format(structure)} ELSE false END"
    )


def _widened(column: str, have: Kind | None, kind: Kind) -> str:
    """The SQL that turns a column's value of kind `have` into one of `kind`, losing nothing: a number
    becomes the text it was sent as (1.5, not 1.500000000000000000), anything becomes its JSON."""
    text = DECIMAL_TEXT.format(column) if have is Kind.NUMBER else f"{column}::VARCHAR"
    if kind is Kind.STRING:
        return text
    if kind is Kind.JSON:
        return f"{text}::JSON" if have is Kind.NUMBER else f"to_json({column})"
    return f"{column}::{TYPES[kind]}"


class _Number:
    """A JSON number shown as its text: Python's float would show 1e400 as inf."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _as_sent(text: str) -> Any:
    """JSON text read for an error message, each number kept as written (1e400, not inf)."""
    return json.loads(text, parse_float=_Number, parse_int=_Number, parse_constant=_Number)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return re.sub(r"\s+", " ", text)
