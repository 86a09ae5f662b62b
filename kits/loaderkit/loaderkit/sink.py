"""The one sink of every bulk loader: records go to a spool file, a full batch goes to the warehouse."""

from __future__ import annotations

import typing as t
from pathlib import Path
from urllib.parse import unquote, urlparse

from singer_sdk.sinks import BatchSink

from loaderkit.errors import LoadError, describe_key
from loaderkit.spool import Spool
from loaderkit.warehouse import Batch, BatchFile, Warehouse, table_for

# Consecutive BATCH files of one stream are loaded together, up to this many files and bytes: DuckDB
# stages one file on one thread (a tap's file of 25,000 rows is one read buffer) and two files on two
# (measured: 399 ms against 224 ms wall for the same CPU), and each load has its fixed cost (table checks,
# commit, checkpoint). Four files (100,000 rows) in one load took the loader's peak RSS past 600 MB.
GATHER_FILES = 2
GATHER_BYTES = 32 << 20

if t.TYPE_CHECKING:
    from singer_sdk import Target
    from singer_sdk.helpers._batch import BaseBatchFileEncoding
    from singer_sdk.sinks import Sink


class Host(t.Protocol):
    """What a BulkSink needs of its target (a `loaderkit.BulkTarget`) beyond singer-sdk's Target."""

    warehouse: Warehouse
    bulk_sinks: list[BulkSink]
    default_schema_name: str

    def drain_one(self, sink: Sink) -> None: ...

    def owe_state(self) -> None: ...


class BulkSink(BatchSink):
    """Spools records as JSON Lines; each drain is one set-wise load of the spool file, in one transaction.

    BATCH messages skip the spool: their files go to the database as they are, never parsed in Python.
    """

    def __init__(self, target: Target, stream_name: str, schema: dict, key_properties: t.Any) -> None:
        host = t.cast("Host", target)
        self.warehouse: Warehouse = host.warehouse
        self.bulk_target = host
        super().__init__(target, stream_name, schema, key_properties)
        self.table = table_for(
            stream_name,
            self.schema,
            self.key_properties,
            self.config.get("default_target_schema"),
            host.default_schema_name,
        )
        self.warehouse.claim(self.table)
        self.submitted_any = False
        self._open_spool: Spool | None = None
        # BATCH files received and not yet submitted for loading (their bytes, and the paths to remove
        # once loaded). They are always older than the records spooled (a file has the spool loaded
        # first), and a drain loads them first: the later version of a key wins, whichever way it came.
        self._gathered: list[BatchFile] = []
        self._gathered_bytes = 0
        self._gathered_paths: list[Path] = []
        host.bulk_sinks.append(self)

    def setup(self) -> None:
        # A new stream has started: streams synced one after another (what taps do unless streams nest)
        # are loaded now, in the background, rather than all together at the end.
        for other in self.bulk_target.bulk_sinks:
            if other is not self and other.current_size:
                self.bulk_target.drain_one(other)

    # -- records --------------------------------------------------------------------------------

    def _validate_and_parse(self, record: dict) -> dict:
        # The SDK's version also parses every date-time string into a datetime object, which the spool
        # would then have to write back as text: the database parses them instead, set-wise. (Overrides
        # a private SDK method: the only hook between a record and its validation.)
        if self._validator is not None:
            self._validator.validate(record)
        return record

    @property
    def current_size(self) -> int:
        """Records spooled, and gathered BATCH files each counted as one: the SDK drains a sink (a new
        stream, a new schema, records older than batch_wait_limit_seconds, the end) only when this is
        not 0, and only then writes STATE; and no STATE is owed while a sink holds either."""
        return super().current_size + len(self._gathered)

    def start_batch(self, context: dict) -> None:
        context["spool"] = self._open_spool = Spool(self.warehouse.spool_dir, self.stream_name)

    def process_record(self, record: dict, context: dict) -> None:
        context["spool"].write(record)

    # -- the fast path: records as the tap sent them (loaderkit.reader, loaderkit.fastpath) --------

    def take_records(self, records: list[bytes], data: bytes) -> None:
        """Spool records as the tap sent them, unparsed (each one JSON object, `data` them joined by
        newlines); whenever the batch is full, load it, as the SDK does after each record."""
        while records:
            room = self.max_size - self.current_size
            if room < len(records):
                part, records = records[: max(room, 1)], records[max(room, 1) :]
                part_data, data = b"\n".join(part), b"\n".join(records)
            else:
                part, records, part_data = records, [], data
            spool = self._open_spool
            if spool is None:
                spool = self._get_context({})["spool"]  # opens the batch the way the SDK does
            spool.write_joined(part, part_data)
            self.tally_record_read(len(part))
            self.record_counter_metric.increment(len(part))
            if self.is_full:
                self.logger.info(
                    "stream %r: %d records spooled, loading them", self.stream_name, self.current_size
                )
                self.bulk_target.drain_one(self)

    # -- loads ----------------------------------------------------------------------------------

    def process_batch(self, context: dict) -> None:
        self._submit_gathered()  # (older than any record spooled)
        if context.get("spool") is self._open_spool:
            self._open_spool = None
        spool: Spool | None = context.get("spool")
        if spool is None:
            return
        path = spool.close()
        if not spool.rows:
            spool.remove()
            return
        first = describe_key(spool.first, self.key_properties)
        last = describe_key(spool.last, self.key_properties)
        what = f"{spool.rows} records ({first} .. {last})" if spool.rows > 1 else f"record {first}"
        batch = Batch([BatchFile(path)], what=what)

        def load() -> None:
            try:
                self._load(batch)
            finally:
                spool.remove()

        self._submit(load)

    def _submit(self, job: t.Callable[[], None]) -> None:
        self.submitted_any = True
        self.warehouse.loads.submit(job)
        self.bulk_target.owe_state()

    def mark_drained(self) -> None:
        super().mark_drained()
        self.bulk_target.owe_state()  # (the load of what was spooled was submitted before this)

    def _load(self, batch: Batch) -> int:
        """On the load thread: make the table right, load the batch in one transaction."""
        self.warehouse.prepare(self.table)
        rows = self.warehouse.load(self.table, batch)
        self.logger.info("stream %r: loaded %d rows into %s", self.stream_name, rows, self.table.name)
        return rows

    def clean_up(self) -> None:
        # A stream that sent a SCHEMA but no records still gets its (empty) table, as with stock loaders;
        # not from a SCHEMA that a later one of the stream replaced before any record came (a tap writing
        # BATCH files widens its schema before the file that holds the records): the later sink makes it.
        if not self.submitted_any and not self._replaced():
            self._submit(lambda: self.warehouse.prepare(self.table))
        super().clean_up()

    def _replaced(self) -> bool:
        sinks = self.bulk_target.bulk_sinks
        later = sinks[sinks.index(self) + 1 :] if self in sinks else []
        return any(other.stream_name == self.stream_name for other in later)

    # -- BATCH messages -------------------------------------------------------------------------

    def _flush_pending(self) -> None:
        """Load records spooled so far first, so a key's later version (in the files) wins."""
        if super().current_size:  # (records only: gathered files wait for the next file)
            context = self.start_drain()
            self.process_batch(context)
            self.mark_drained()

    def process_batch_files(self, encoding: BaseBatchFileEncoding, files: t.Sequence[str]) -> None:
        fmt = str(getattr(encoding.format, "value", encoding.format))
        if fmt != "jsonl":
            raise LoadError(
                f"stream {self.stream_name!r}: BATCH files in {fmt!r} format are not supported "
                "(set the tap's batch_config encoding format to jsonl)"
            )
        compression = (encoding.compression or "none").lower()
        if compression not in {"gzip", "none"}:
            raise LoadError(
                f"stream {self.stream_name!r}: BATCH files compressed with {compression!r} are not "
                "supported (gzip or none)"
            )
        batch_files = [BatchFile(_local_path(self.stream_name, url), compression == "gzip") for url in files]
        paths = [] if self.config.get("batch_files_keep") else [f.path for f in batch_files]
        self.warehouse.leftovers.files.update(paths)  # (at the end of the run at the latest)
        self._flush_pending()
        if not batch_files:
            return
        size = sum(_size(f.path) for f in batch_files)
        if self._gathered and (
            self._gathered[0].gzip != batch_files[0].gzip
            or len(self._gathered) + len(batch_files) > GATHER_FILES
            or self._gathered_bytes + size > GATHER_BYTES
        ):
            self._submit_gathered()
        self._gathered += batch_files
        self._gathered_bytes += size
        self._gathered_paths += paths
        if len(self._gathered) >= GATHER_FILES or self._gathered_bytes >= GATHER_BYTES:
            self._submit_gathered()

    def _submit_gathered(self) -> None:
        """Submit the load of the BATCH files gathered so far (one transaction), if any."""
        if not self._gathered:
            return
        batch_files, paths = self._gathered, self._gathered_paths
        self._gathered, self._gathered_paths, self._gathered_bytes = [], [], 0
        names = ", ".join(f.path.name for f in batch_files[:3]) + (", ..." if len(batch_files) > 3 else "")
        batch = Batch(batch_files, what=f"BATCH files {names}")

        def load() -> None:
            try:
                self.record_counter_metric.increment(self._load(batch))
            finally:  # committed, or failed: either way the tap's next run does not need them
                self.warehouse.leftovers.remove_files(paths)

        self._submit(load)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _local_path(stream: str, url: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme in {"", "file"}:
        path = Path(unquote(parsed.path if parsed.scheme else url))
        if not path.is_file():
            raise LoadError(f"stream {stream!r}: BATCH file {url} does not exist")
        return path
    raise LoadError(
        f"stream {stream!r}: BATCH file {url}: only local files (file://) are supported; "
        "point the tap's batch_config storage root at a local directory"
    )
