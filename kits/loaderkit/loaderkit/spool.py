"""Spool files: a stream's records as JSON Lines on disk until the database loads them in one go.

A record comes either as the bytes the tap sent (the fast path: appended as they are, never parsed in
Python) or as a dict the SDK's record path produced (one msgspec encode, Decimal written as the number
it was, digit for digit). Either way it goes to a buffer that is written to the file a megabyte at a
time, so memory stays flat whatever the batch size.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import os
import tempfile
import typing as t
from pathlib import Path

import msgspec

from loaderkit.errors import LoadError

_FLUSH_BYTES = 1 << 20


def _enc_hook(obj: t.Any) -> t.Any:
    # Stream maps may hand over dates and times; everything else unknown is written as its text.
    if isinstance(obj, datetime.datetime | datetime.date | datetime.time):
        return obj.isoformat()
    return str(obj)


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="number")
_decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)


class Spool:
    """One batch of one stream, being written to a JSONL file in `directory` (0600: tempfile's mode).

    A write that fails (a full disk, say) ends the load with one line naming the stream and the
    directory: nothing of the batch has reached the database then.
    """

    def __init__(self, directory: str | os.PathLike[str], stream: str) -> None:
        self.stream = stream
        self.path = Path(directory) / "(new spool file)"
        with self._writing():
            fd, name = tempfile.mkstemp(dir=directory, suffix=".jsonl")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._buffer = bytearray()
        self.rows = 0
        # The first and last record as written (a dict, or the raw bytes of the fast path): they name
        # the batch in messages.
        self._first: dict | bytes | None = None
        self._last: dict | bytes | None = None

    def write(self, record: dict) -> None:
        """A record from the SDK's record path."""
        buffer = self._buffer
        _encoder.encode_into(record, buffer, -1)
        buffer += b"\n"
        self._count(record)

    def write_joined(self, records: list[bytes], data: bytes) -> None:
        """Records as the tap sent them (each one JSON object on one line), `data` them joined by
        newlines."""
        self._buffer += data
        self._buffer += b"\n"
        if self._first is None:
            self._first = records[0]
        self._last = records[-1]
        self.rows += len(records) - 1
        self._count(records[-1])

    def _count(self, record: dict | bytes) -> None:
        if self._first is None:
            self._first = record
        self._last = record
        self.rows += 1
        if len(self._buffer) >= _FLUSH_BYTES:
            with self._writing():
                self._file.write(self._buffer)
            self._buffer.clear()

    @property
    def first(self) -> dict | None:
        return _as_dict(self._first)

    @property
    def last(self) -> dict | None:
        return _as_dict(self._last)

    def close(self) -> Path:
        if not self._file.closed:
            with self._writing():
                try:
                    self._file.write(self._buffer)
                finally:
                    self._buffer.clear()
                    self._file.close()
        return self.path

    @contextlib.contextmanager
    def _writing(self) -> t.Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise LoadError(
                f"stream {self.stream!r}: writing a spool file in {self.path.parent} failed "
                f"({exc.strerror or exc}), so the batch's records were not loaded; the spool directory is "
                "the system's temporary directory (TMPDIR): give it more room, or point TMPDIR elsewhere"
            ) from None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def _as_dict(record: dict | bytes | None) -> dict | None:
    if isinstance(record, bytes):
        decoded = _decoder.decode(record)
        return decoded if isinstance(decoded, dict) else None
    return record
