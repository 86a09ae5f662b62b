"""A Singer message writer on msgspec that can also take a whole page of lines in one write.

Numbers go out with the digits they were read with (see tapkit.body). Every message still ends in
a flush, so STATE never overtakes the records before it and nothing waits in a buffer when the
process dies; a page of records is one write and one flush.
"""

from __future__ import annotations

import sys
import typing as t

from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from singer_sdk.singerlib.messages import StateMessage

from tapkit.body import ENCODER

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.messages import Message


def dumps_line(obj: t.Any) -> bytes:
    return ENCODER.encode(obj) + b"\n"


def dumps_record(record: dict) -> bytes:
    return ENCODER.encode(record)


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
        # A STATE message is the state as it is: ``to_dict`` (dataclasses.asdict) copies the whole state
        # deeply first, which with a page's look-back in it was a sixth of the CPU a page of 100 records
        # costs (benchmark 2). The line is the same: asdict leaves a state's dicts and lists as they are
        # and drops only a top-level null.
        if type(message) is StateMessage:
            value = message.value
            return dumps_line({"type": "STATE"} if value is None else {"type": "STATE", "value": value})
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
