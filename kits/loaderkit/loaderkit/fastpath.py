"""Whether a stream's records take the fast path (loaderkit.reader), decided in this one place.

Appending a record's bytes to the spool must give what singer-sdk's record path gives: so the stream has
had its SCHEMA, no stream map or flattening applies to it, its sink is a plain `BulkSink` (no per-record
hook overridden by a subclass), records are not validated in Python (`validate_records`) and get no
record metadata (`add_record_metadata`). The reader then sends a record of such a stream to the spool
when its bytes are a JSON object holding every key property.
"""

from __future__ import annotations

import msgspec
from singer_sdk import Target
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.sinks import Sink

from loaderkit.reader import FastStream
from loaderkit.sink import BulkSink


def fast_stream(target: Target, stream: str) -> FastStream | None:
    """How the fast path spools the stream's RECORD messages, or None when they need the SDK's path."""
    maps = target.mapper.stream_maps.get(stream)
    if (
        not maps
        or len(maps) != 1
        or type(maps[0]) is not SameRecordTransform
        or maps[0].flattening_enabled
        or maps[0].stream_alias != stream
        or not target.sink_exists(stream)
    ):
        return None
    sink = target.get_sink(stream)
    if not isinstance(sink, BulkSink) or not _sink_takes_bytes(sink):
        return None

    def take(records: list[bytes], data: bytes) -> None:
        sink.take_records(records, data)
        # What the SDK does after each record: drain everything (and emit STATE) once records have
        # waited batch_wait_limit_seconds.
        target._handle_max_record_age()

    return FastStream(take, tuple(msgspec.json.encode(k) for k in sink.key_properties))


def _sink_takes_bytes(sink: BulkSink) -> bool:
    cls = type(sink)
    return (
        sink._validator is None
        and not sink.include_sdc_metadata_properties
        and cls.process_record is BulkSink.process_record
        and cls.preprocess_record is Sink.preprocess_record
        and cls._validate_and_parse is BulkSink._validate_and_parse
        and cls.start_batch is BulkSink.start_batch
    )
