"""What a database must do for the kit: make a stream's table right, and load files into it set-wise."""

from __future__ import annotations

import abc
import json
import logging
import shutil
import string
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loaderkit.background import LoadQueue
from loaderkit.columns import WIDENINGS, Column, Kind, changes, columns_from_schema
from loaderkit.errors import LoadError


@dataclass(frozen=True)
class Table:
    """Where and how one stream lands."""

    stream: str
    schema: str
    name: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


# The table comment that records which stream a table is written from and on which key properties its
# rows are merged (checked by later runs).
STREAM_COMMENT = (
    "Singer stream {stream}, key properties {keys} (written by loaderkit; a later run refuses another "
    "stream here)"
)
_COMMENT_START = STREAM_COMMENT.split("{stream}")[0]
_COMMENT_KEYS = STREAM_COMMENT.split("{stream}")[1].split("{keys}")[0]
_COMMENT_END = STREAM_COMMENT.split("{keys}")[1]
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@dataclass(frozen=True)
class Recorded:
    """What a table comment of ours says: the stream the table is written from, the keys it merges on."""

    stream: str
    keys: tuple[str, ...]


def stream_comment(stream: str, keys: Sequence[str] = ()) -> str:
    return STREAM_COMMENT.format(
        stream=json.dumps(stream, ensure_ascii=False), keys=json.dumps(list(keys), ensure_ascii=False)
    )


def recorded_in(comment: str | None) -> Recorded | None:
    """What a table comment of ours records; None for no comment or someone else's."""
    if not comment or not comment.startswith(_COMMENT_START) or not comment.endswith(_COMMENT_END):
        return None
    middle = comment[len(_COMMENT_START) : len(comment) - len(_COMMENT_END)]
    try:
        stream, end = json.JSONDecoder().raw_decode(middle)
        if not middle.startswith(_COMMENT_KEYS, end):
            return None
        keys = json.loads(middle[end + len(_COMMENT_KEYS) :])
    except ValueError:
        return None
    if not isinstance(stream, str) or not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return None
    return Recorded(stream, tuple(keys))


def stream_of_comment(comment: str | None) -> str | None:
    """The stream a table comment of ours names; None for no comment or someone else's."""
    recorded = recorded_in(comment)
    return recorded.stream if recorded else None


@dataclass(frozen=True)
class BatchFile:
    """A JSON Lines file of records (one object per line), maybe gzip-compressed."""

    path: Path
    gzip: bool = False


@dataclass
class Batch:
    """Files to load in one transaction, and what to say about them when it fails."""

    files: list[BatchFile]
    what: str = ""  # e.g. "500 records (id=1 .. id=500)"


def table_for(
    stream: str, schema: Mapping[str, Any], keys: Sequence[str], target_schema: str | None, fallback: str
) -> Table:
    """`default_target_schema` when set; else a stream named `schema-table` names both (the Singer
    convention); else the database's default schema. The table is named after the stream, verbatim."""
    if target_schema:
        schema_name, name = target_schema, stream
    elif "-" in stream:
        schema_name, name = stream.split("-", 1)
    else:
        schema_name, name = fallback, stream
    columns = tuple(columns_from_schema(schema))
    names = {c.name for c in columns}
    if "" in names:  # (neither database has a column without a name)
        raise LoadError(f"stream {stream!r}: a property of the stream's schema has an empty name ('')")
    missing = [k for k in keys if k not in names]
    if missing:
        raise LoadError(
            f"stream {stream!r}: key properties {missing} are not properties of the stream's schema"
        )
    return Table(stream, schema_name, name, columns, tuple(keys))


class Warehouse(abc.ABC):
    """One database connection per target process; loads run one after another on it, on the background
    thread of `loads` (every method below but `close` runs there)."""

    # kind -> the column type this database gets for it
    types: Mapping[Kind, str]
    # the longest identifier the database keeps whole (None: no limit)
    max_identifier_bytes: int | None = None
    # whether the database compares identifiers without regard to case, even quoted (DuckDB)
    case_insensitive_identifiers: bool = False
    # (from, to) kinds whose column this database changes in place keeping every value
    widenings: frozenset[tuple[Kind, Kind]] = WIDENINGS

    def __init__(self, config: Mapping[str, Any], logger: logging.Logger) -> None:
        self.config = config
        self.logger = logger
        self.leftovers = Leftovers()
        # However the run ends (a failure included: the CLI exits after the load thread has stopped), no
        # spool file or directory, and no BATCH file the loader was handed, stays behind.
        weakref.finalize(self, self.leftovers.remove)
        self._prepared: dict[tuple[str, str], Table] = {}
        # (schema, table) as the database tells names apart -> the table of the stream landing there
        self._claimed: dict[tuple[str, str], Table] = {}
        self.loads = LoadQueue()

    @property
    def spool_dir(self) -> str:
        """The run's own directory (0700: tempfile's mode) in the system's temporary directory."""
        if self.leftovers.spool_dir is None:
            try:
                self.leftovers.spool_dir = tempfile.mkdtemp(prefix=f"{type(self).__name__.lower()}-spool-")
            except OSError as exc:
                raise LoadError(
                    f"cannot create a spool directory in {tempfile.gettempdir()} ({exc.strerror or exc}): "
                    "give the system's temporary directory (TMPDIR) more room, or point TMPDIR elsewhere"
                ) from None
        return self.leftovers.spool_dir

    @staticmethod
    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def qualified(self, table: Table) -> str:
        return f"{self.quote(table.schema)}.{self.quote(table.name)}"

    def kind_of_type(self, type_name: str) -> Kind | None:
        """The kind a column of this database type was made for (None: not a type we make)."""
        wanted = type_name.strip().lower()
        return next((k for k, t in self.types.items() if t.lower() == wanted), None)

    def same_name(self, name: str) -> str:
        """The name as the database tells names apart: cut at the bytes it keeps, case-folded where it
        ignores case (DuckDB folds ASCII letters only)."""
        if self.max_identifier_bytes is not None:
            name = name.encode()[: self.max_identifier_bytes].decode(errors="ignore")
        return name.translate(_ASCII_LOWER) if self.case_insensitive_identifiers else name

    def claim(self, table: Table) -> None:
        """Refuse a second stream landing in a table another stream of this run lands in."""
        where = (self.same_name(table.schema), self.same_name(table.name))
        other = self._claimed.setdefault(where, table)
        if other.stream != table.stream:
            why = ""
            if (other.schema, other.name) != (table.schema, table.name):
                why = (  # (each of our databases folds names one way only)
                    " (the database does not tell names apart by case)"
                    if self.case_insensitive_identifiers
                    else f" (the database keeps the first {self.max_identifier_bytes} bytes of a name)"
                )
            raise LoadError(
                f"streams {other.stream!r} and {table.stream!r} would both land in table "
                f"{self.qualified(other)}{why}, one overwriting the other: rename one of them (a stream "
                "map's __alias__), or load them into different schemas"
            )

    def check_owner(self, table: Table) -> bool:
        """Refuse a table an earlier run wrote from another stream; True when the table records no
        stream of ours yet (its comment is then written)."""
        comment = self.table_comment(table)
        recorded = stream_of_comment(comment)
        if recorded is not None and recorded != table.stream:
            raise LoadError(
                f"stream {table.stream!r}: table {self.qualified(table)} holds the records of stream "
                f"{recorded!r} (its comment says so, written by an earlier run); loading {table.stream!r} "
                "there would overwrite them: rename one of the streams, or drop the table"
            )
        return comment is None

    def check_names(self, table: Table) -> None:
        """Refuse identifiers the database would truncate or confuse, before anything is written."""
        names = [table.schema, table.name, *(c.name for c in table.columns)]
        if self.max_identifier_bytes is not None:
            long = [n for n in names if len(n.encode()) > self.max_identifier_bytes]
            if long:
                raise LoadError(
                    f"stream {table.stream!r}: name {long[0]!r} is longer than the "
                    f"{self.max_identifier_bytes} bytes the database keeps; it would be cut short"
                )
        if self.case_insensitive_identifiers:
            seen: dict[str, str] = {}
            for column in table.columns:
                other = seen.setdefault(self.same_name(column.name), column.name)
                if other != column.name:
                    raise LoadError(
                        f"stream {table.stream!r}: properties {other!r} and {column.name!r} differ only "
                        "in case, and the database does not tell such column names apart"
                    )

    def prepare(self, table: Table) -> None:
        """Create schema and table, add new columns, widen changed ones, or refuse; once per table shape."""
        if self._prepared.get((table.schema, table.name)) == table:
            return
        self.check_names(table)
        unmarked = self.check_owner(table)
        existing = self.existing_columns(table)
        if existing is None:
            self.create_table(table)
        else:
            add, widen, refused = changes(existing, table.columns, self.widenings)
            retyped: list[Column] = []
            if refused and self.is_empty(table):
                # No value to lose (a SCHEMA with no records made the table): the columns take the new
                # schema's types.
                retyped = [c for c in table.columns if c.name in existing and existing[c.name] != c.kind]
                retyped = [c for c in retyped if c not in widen and existing[c.name] is not None]
                refused = []
            if refused:
                raise LoadError(f"stream {table.stream!r}: table {self.qualified(table)}: {refused[0]}")
            for column in retyped:
                self.logger.info(
                    "stream %r: table %s holds no rows: column %r changes from %s to %s",
                    table.stream,
                    self.qualified(table),
                    column.name,
                    existing[column.name],
                    column.kind,
                )
            if retyped:
                self.retype_empty(table, retyped)
            for column in add:
                self.logger.info("stream %r: adding column %r (%s)", table.stream, column.name, column.kind)
            for column in widen:
                self.logger.info(
                    "stream %r: widening column %r from %s to %s",
                    table.stream,
                    column.name,
                    existing[column.name],
                    column.kind,
                )
            self.alter_table(table, add, widen)
        if unmarked:
            self.set_table_comment(table, stream_comment(table.stream, table.keys))
        self._prepared[(table.schema, table.name)] = table

    @abc.abstractmethod
    def existing_columns(self, table: Table) -> dict[str, Kind | None] | None:
        """The table's columns and their kinds, or None when the table does not exist."""

    @abc.abstractmethod
    def create_table(self, table: Table) -> None: ...

    @abc.abstractmethod
    def table_comment(self, table: Table) -> str | None:
        """The table's comment (None: no comment, or no such table), found as the database finds the
        table's name (in DuckDB whatever the case)."""

    @abc.abstractmethod
    def set_table_comment(self, table: Table, comment: str) -> None: ...

    @abc.abstractmethod
    def alter_table(self, table: Table, add: list[Column], widen: list[Column]) -> None: ...

    def is_empty(self, table: Table) -> bool:
        """Whether the table holds no rows, asked of the database (False, the default, keeps refusing a
        type change that would lose values)."""
        return False

    def retype_empty(self, table: Table, columns: list[Column]) -> None:
        """Give an empty table's `columns` their kinds' types (only called when `is_empty` said so)."""
        raise NotImplementedError

    @abc.abstractmethod
    def load(self, table: Table, batch: Batch) -> int:
        """Load the batch's files into the table in one transaction: merge on the keys (the last record
        of a key wins), append without keys. Returns the rows loaded. On any failure nothing of the
        batch is committed and a LoadError names the stream and the record."""

    def close(self) -> None:
        """Subclasses close their connection after this (the load thread has stopped by then)."""
        self.loads.close()
        self.leftovers.remove()


@dataclass
class Leftovers:
    """What the loader must not leave behind: its spool directory, and files it was handed to remove
    once loaded (a tap's BATCH files) that are not removed yet."""

    spool_dir: str | None = None
    files: set[Path] = field(default_factory=set)

    def remove_files(self, paths: Sequence[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)
            self.files.discard(path)

    def remove(self) -> None:
        if self.spool_dir is not None:
            shutil.rmtree(self.spool_dir, ignore_errors=True)
            self.spool_dir = None
        self.remove_files(list(self.files))
