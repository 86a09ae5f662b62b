"""A Singer message writer on orjson that can also take a whole page of lines in one write.

Every message still ends in a flush, so STATE never overtakes the records before it and nothing
waits in a buffer when the process dies; a page of records is one write and one flush.
"""

from __future__ import annotations

import datetime
import decimal
import sys
import typing as t

import orjson
from singer_sdk.singerlib.encoding.base import GenericSingerWriter

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.messages import Message

OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def _default(value: t.Any) -> t.Any:
    if isinstance(value, decimal.Decimal):
        return orjson.Fragment(str(value)) if value.is_finite() else None
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__} in a Singer message")


def dumps_line(obj: t.Any) -> bytes:
    return orjson.dumps(obj, default=_default, option=OPTIONS)


def dumps_record(record: dict) -> bytes:
    return orjson.dumps(record, default=_default, option=orjson.OPT_NON_STR_KEYS)


def write_bytes(data: bytes) -> None:
    """Write to whatever sys.stdout is now (tests swap it for a text buffer)."""
    out = sys.stdout
    binary = getattr(out, "buffer", None)
    if binary is None:
        out.write(data.decode())
        out.flush()
        return
    out.flush()
    binary.write(data)
    binary.flush()


class FastSingerWriter(GenericSingerWriter[bytes, "Message"]):
    """A termination signal that arrives mid-write waits for the write to end, so the target never
    sees half a line; ``on_signal`` then runs with the signal number."""

    def __init__(self) -> None:
        self.writing = False
        self.pending_signal: int | None = None
        self.on_signal: t.Callable[[int], None] | None = None

    def serialize_message(self, message: Message) -> bytes:
        return dumps_line(message.to_dict())

    def write_message(self, message: Message) -> None:
        self.write_lines(self.serialize_message(message))

    def write_lines(self, data: bytes) -> None:
        self.writing = True
        try:
            write_bytes(data)
        finally:
            self.writing = False
        signum, self.pending_signal = self.pending_signal, None
        if signum is not None and self.on_signal is not None:
            self.on_signal(signum)
