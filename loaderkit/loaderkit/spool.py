"""Spool files: a stream's records as JSON Lines on disk until the database loads them in one go.

Python's only work per record is one msgspec encode into a buffer (Decimal written as the number it was,
digit for digit); the buffer goes to the file a megabyte at a time, so memory stays flat whatever the
batch size.
"""

from __future__ import annotations

import datetime
import os
import tempfile
import typing as t
from pathlib import Path

import msgspec

_FLUSH_BYTES = 1 << 20


def _enc_hook(obj: t.Any) -> t.Any:
    # Stream maps may hand over dates and times; everything else unknown is written as its text.
    if isinstance(obj, datetime.datetime | datetime.date | datetime.time):
        return obj.isoformat()
    return str(obj)


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number")


class Spool:
    """One batch of one stream, being written to a JSONL file in `directory`."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        fd, name = tempfile.mkstemp(dir=directory, suffix=".jsonl")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._buffer = bytearray()
        self.rows = 0
        self.first: dict | None = None
        self.last: dict | None = None

    def write(self, record: dict) -> None:
        buffer = self._buffer
        _encoder.encode_into(record, buffer, -1)
        buffer += b"\n"
        if self.first is None:
            self.first = record
        self.last = record
        self.rows += 1
        if len(buffer) >= _FLUSH_BYTES:
            self._file.write(buffer)
            buffer.clear()

    def close(self) -> Path:
        if not self._file.closed:
            self._file.write(self._buffer)
            self._buffer.clear()
            self._file.close()
        return self.path

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
