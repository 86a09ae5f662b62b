"""Writing whole pages: RECORD lines in one write, or JSON Lines BATCH files, instead of the SDK's
per-record path (over the private ``Stream._sync_records``, see ``sdk_surface.py``).

``PageWriter`` is the base of ``OffsetStream``: the stream supplies the pages (``iter_pages``) and
notes each page written (``_page_written``, ``_stream_done``); this module turns a page's records into
the lines the SDK would write (``render``: the one place a page's records are conformed) and writes them.
Anything that needs the SDK's per-record hooks takes the SDK's path instead (``fast_path_applies``).
"""

from __future__ import annotations

import contextlib
import gzip
import typing as t
import uuid
from datetime import UTC, datetime
from functools import cached_property

from singer_sdk.batch import Batcher
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams import RESTStream

from tapkit import collector, handover
from tapkit.body import RawSlices
from tapkit.conform import compile_conformer
from tapkit.contract import schema_guard
from tapkit.typed import TypedPages, typed
from tapkit.writer import FastSingerWriter, dumps_line, dumps_record

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig
    from singer_sdk.helpers.types import Context

    from tapkit.tap import RestTap

Page = tuple[list[dict], dict | None]  # a page's records, and the resume point after them (None: none)


class PageWriter(RESTStream[int]):
    rest_tap: RestTap
    data_selector: t.ClassVar[str]  # the top-level key of a page's records (``OffsetStream``)
    _batching = False  # in a BATCH sync, STATE goes out after each file, not after each page

    # -- what the stream supplies ---------------------------------------------------------------

    def iter_pages(self, context: Context | None) -> t.Iterator[Page]:
        raise NotImplementedError

    def _page_written(self, resume: dict | None, lines: t.Iterable[bytes] = ()) -> None:
        raise NotImplementedError

    def _stream_done(self) -> None:
        raise NotImplementedError

    # -- which path ------------------------------------------------------------------------------

    def fast_path_applies(self) -> bool:
        """True when writing whole pages gives exactly what the SDK's per-record path gives. Anything
        that needs the SDK's per-record hooks takes the SDK's path: stream maps and flattening, child
        streams, nested deselection, a post_process override, a dry run's record limit
        (``--test``, ``ABORT_AT_RECORD_COUNT``), incremental replication, ACTIVATE_VERSION messages."""
        maps = self.stream_maps
        return (
            isinstance(self.rest_tap.message_writer, FastSingerWriter)
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and not self.child_streams
            and self.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.RECURSIVE
            and self._deselected_paths() is not None
            and type(self).post_process is RESTStream.post_process
            and self.ABORT_AT_RECORD_COUNT is None
            and self.replication_key is None
            and not self.emit_activate_version_messages
        )

    def _deselected_paths(self) -> frozenset[str] | None:
        """Top-level properties the catalog deselects; None if a nested one is (the SDK path handles it)."""
        deselected = set()
        for breadcrumb, selected in self.mask.items():
            if selected or not breadcrumb:
                continue
            if len(breadcrumb) != 2:
                return None
            deselected.add(breadcrumb[1])
        return frozenset(deselected)

    # -- a page's records as lines -----------------------------------------------------------------

    def renderer(self) -> t.Callable[[list[dict]], list[bytes]]:
        """Records of a page -> their JSON, as the SDK would write them: deselected properties and
        properties the schema does not declare dropped (the latter with one warning), booleans conformed."""
        deselected = self._deselected_paths() or frozenset()
        conform = compile_conformer(self.effective_schema)
        warned: set[str] = set()
        guard = schema_guard(self)
        # A page the contract's check passed holds no property the schema does not declare and no value
        # of another type (so no boolean to conform): conformance leaves it as it is, and its records go
        # out as the bytes they came in. Without that check (discard_value), or with a property to drop,
        # or a schema whose anyOf the check does not read, every record is conformed and encoded.
        slices = self.raw_slices

        def fits_as_sent() -> bool:  # for the schema in force now
            return guard is not None and not deselected and _checked_as_conformed(self.effective_schema)

        def as_sent_now() -> bool:  # and the reader of pages into the schema's types, when they go as sent
            wanted = fits_as_sent()
            slices.typed = (
                TypedPages.of(self.effective_schema, self.data_selector, self.primary_keys)
                if wanted
                else None
            )
            slices.wanted = wanted
            return wanted

        as_sent = as_sent_now()

        def render(records: list[dict]) -> list[bytes]:
            nonlocal conform, as_sent
            if guard is not None and guard.page(records):  # the schema widened (schema_contract)
                conform = compile_conformer(self.effective_schema)
                as_sent = as_sent_now()
            elif as_sent and (lines := slices.lines(records)) is not None:
                return lines  # the page fits the schema it was checked against: conformance keeps it whole
            if typed(records):  # read into the schema's types for its bytes, which are gone: never happens
                raise RuntimeError(f"stream '{self.name}': a page read as sent lost its bytes")
            unmapped: list[str] = []
            if deselected:
                records = [{k: v for k, v in r.items() if k not in deselected} for r in records]
            if conform is not None:
                records = [conform(r, unmapped, None) for r in records]
            if unmapped and not warned.issuperset(unmapped):
                warned.update(unmapped)
                self.logger.warning(
                    "Properties %s were present in the '%s' stream but not found in catalog schema. "
                    "Ignoring.",
                    tuple(dict.fromkeys(unmapped)),
                    self.name,
                )
            return list(map(dumps_record, records))

        return render

    @cached_property
    def raw_slices(self) -> RawSlices:
        """The bytes the records of the page parsed last came in (``tapkit.body``), for ``renderer``."""
        return RawSlices()

    def rendered_pages(self, context: Context | None) -> t.Iterator[tuple[list[bytes], dict | None]]:
        """``(lines, resume point)`` for every page: the records as they are written, in page order."""
        render = self.renderer()
        for records, resume in self.iter_pages(context):
            yield render(records), resume

    # -- RECORD messages ---------------------------------------------------------------------------

    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        with collector.during_sync():
            yield from self._records_synced(context, write_messages=write_messages)

    def _records_synced(
        self, context: Context | None, *, write_messages: bool
    ) -> t.Generator[dict, t.Any, t.Any]:
        if not (write_messages and self.selected and self.fast_path_applies()):
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        writer = t.cast("FastSingerWriter", self.rest_tap.message_writer)
        head = dumps_line({"type": "RECORD", "stream": self.stream_maps[0].stream_alias})[:-2] + b',"record":'
        with self.get_record_counter() as record_counter, self.get_sync_timer():
            record_counter.with_context(context)
            for lines, resume in self.rendered_pages(context):
                if lines:
                    extra: dict[str, t.Any] = {"time_extracted": datetime.now(UTC)}
                    tail = b"," + dumps_line(extra)[1:]
                    # One line per record, built by a single C-level join: head + record + tail.
                    writer.write_lines(head + (tail + head).join(lines) + tail)
                    record_counter.increment(len(lines))
                self._page_written(resume, lines)
        self._stream_done()

    # -- BATCH files ---------------------------------------------------------------------------------

    def get_batch_config(self, config: t.Mapping) -> BatchConfig | None:
        """The ``batch_config`` setting; without one (and unless ``batch_auto`` is false), BATCH files
        when ``meltano run`` pipes the tap straight into one of our bulk loaders (handover.py)."""
        if not config.get("batch_config") and config.get("batch_auto", True):
            auto = handover.for_this_run()
            if auto is not None:
                config = {**config, "batch_config": auto}
        return super().get_batch_config(config)

    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> t.Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        """JSON Lines BATCH files written a page at a time, as the fast path writes RECORD messages.

        Before each file is handed over, the stream's resume point is set to the last page in it:
        the SDK writes the BATCH message and then STATE, so a sync killed at any moment resumes
        after the last file announced, never after records that are in no file. Other encodings
        (Parquet) and anything the fast path does not take go through the SDK's batcher; its
        files also end on STATE for a page at or before their last record.
        """
        self._batching = True
        try:
            with collector.during_sync():
                yield from self._batches(batch_config, context)
        finally:
            self._batching = False

    def _batches(
        self, batch_config: BatchConfig, context: Context | None
    ) -> t.Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        if batch_config.encoding.format != "jsonl" or not self.fast_path_applies():
            batcher = Batcher(tap_name=self.tap_name, stream_name=self.name, batch_config=batch_config)
            for manifest in batcher.get_batches(records=self._records_as_written(context)):
                yield batch_config.encoding, manifest
            return
        yield from self._jsonl_batches(batch_config, context)

    def _records_as_written(self, context: Context | None) -> t.Iterator[dict]:
        """The records for the SDK's batcher as a RECORD message would hold them: singer-sdk's own
        get_batches hands it the records as the stream yields them, without the catalog's deselection,
        type conformance (the drop of undeclared properties) or the stream map."""
        for record in self._sync_records(context, write_messages=False):
            for message in self._generate_record_messages(record):
                yield message.record

    def _jsonl_batches(
        self, batch_config: BatchConfig, context: Context | None
    ) -> t.Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        storage, encoding = batch_config.storage, batch_config.encoding
        suffix = ".json.gz" if encoding.compression == "gzip" else ".json"
        name = f"{storage.prefix or ''}{self.tap_name}--{self.name}-{uuid.uuid4()}"
        with self.get_record_counter() as record_counter, BatchFiles(name, suffix, batch_config) as files:
            pages = self.rendered_pages(context)
            while True:
                try:
                    lines, resume = next(pages)
                except StopIteration:
                    break
                except BaseException:
                    # The sync fails (the API, a signal): the pages already in the open file go out with
                    # the STATE after them, so the rerun resumes after them, as with RECORD messages.
                    if files.rows:
                        yield encoding, [files.hand_over()]
                    raise
                if lines:
                    files.write(lines)
                    record_counter.increment(len(lines))
                self._page_written(resume, lines)
                if files.rows and files.rows >= batch_config.batch_size:
                    yield encoding, [files.hand_over()]
            if files.rows:
                yield encoding, [files.hand_over()]
        self._stream_done()


def _checked_as_conformed(schema: t.Any) -> bool:
    """The contract's page check (``tapkit.pagecheck``) reads every part of ``schema`` that conformance
    (``tapkit.conform``) acts on: both read ``type``, ``properties``, ``additionalProperties`` and
    ``items`` alike; only conformance reads ``anyOf``."""
    if isinstance(schema, dict):
        return "anyOf" not in schema and all(map(_checked_as_conformed, schema.values()))
    if isinstance(schema, list):
        return all(map(_checked_as_conformed, schema))
    return True


class BatchFiles(contextlib.ExitStack):
    """The BATCH files of one stream, one open at a time: ``write`` pages to it, ``hand_over`` closes it."""

    def __init__(self, name: str, suffix: str, batch_config: BatchConfig) -> None:
        super().__init__()
        self.name, self.suffix, self.config = name, suffix, batch_config
        self.out: t.IO[bytes] | gzip.GzipFile | None = None
        self.files = 0
        self.rows = 0  # lines in the file now open
        self.filename = ""

    def write(self, lines: list[bytes]) -> None:
        if self.out is None:
            self.files += 1
            self.filename = f"{self.name}-{self.files}{self.suffix}"
            self.out = self.enter_context(self.config.storage.open(self.filename, "wb"))
            if self.config.encoding.compression == "gzip":
                self.out = self.enter_context(gzip.GzipFile(fileobj=self.out, mode="wb"))
        self.out.write(b"\n".join(lines) + b"\n")
        self.rows += len(lines)

    def hand_over(self) -> str:
        """Close the file open now; its URL, for the BATCH message."""
        self.close()
        self.out, self.rows = None, 0
        return self.config.storage.get_url(self.filename)
