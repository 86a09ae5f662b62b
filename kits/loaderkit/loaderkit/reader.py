"""The Singer message reader: bytes from stdin, RECORD lines on a fast path, the rest through the SDK.

The fast path: each line's envelope is decoded by msgspec into a small struct whose `record` is
`msgspec.Raw` (the record's bytes, checked to be well-formed JSON but never turned into Python objects).
A RECORD of a stream whose sink can take it (`BulkTarget.fast_stream`: no stream map, no flattening, no
validation in Python, no record metadata), whose record is a JSON object holding every key property,
goes to that stream's spool file as the bytes the tap sent, a few hundred records at a time; the
database parses and checks them set-wise when it loads the batch.

Every other line, and every record the fast path declines, goes through singer-sdk's own reading loop,
in input order: the records gathered so far are spooled first, then the line is handed to the SDK, and
the next line is read only after the SDK has finished with it. So a STATE is seen only after every
record before it is in its spool, and a record lacking its key, say, fails as the SDK path words it,
naming its input line.

On the SDK's path msgspec decodes the whole message with floats as `decimal.Decimal` (integers of any
size stay exact anyway), so no digit a tap sends is rounded through a double. A line that is not a JSON
object fails on one line naming its number.
"""

from __future__ import annotations

import collections
import decimal
import sys
import typing as t
from dataclasses import dataclass

import msgspec
from singer_sdk.singerlib.encoding import GenericSingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine

from loaderkit.errors import LoadError

_decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)

# Records gathered before they are spooled together: bounds the reader's memory (by bytes too, for
# large records). Whatever was gathered is spooled whenever the input has no more to read at once.
CHUNK_RECORDS = 1000
CHUNK_BYTES = 1 << 20
# The most bytes read from the input at once.
READ_BYTES = 1 << 20


@dataclass(frozen=True)
class FastStream:
    """How the fast path hands records of one stream to its sink."""

    # Spools records (each one JSON object, UTF-8, no carriage return), given as a list and joined by
    # newlines; the sink loads a batch whenever one is full.
    take: t.Callable[[list[bytes], bytes], None]
    # Each key property as it reads in JSON (`"id"`): a record whose bytes lack one takes the SDK's path.
    quoted_keys: tuple[bytes, ...]


class Envelope(msgspec.Struct):
    """What the fast path reads of a Singer message: its type, stream and the record's raw bytes."""

    type: str = ""
    stream: str = ""
    record: msgspec.Raw = msgspec.Raw(b"")


_envelope = msgspec.json.Decoder(Envelope)


class BulkReader(GenericSingerReader[bytes]):
    """Reads Singer messages from binary stdin (or a file), skipping blank lines, counting lines."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.fast_records = 0
        # stream name -> how its records are spooled, or None when they take the SDK's path. Set by the
        # target; None: no fast path at all.
        self.fast_stream: t.Callable[[str], FastStream | None] | None = None

    @property
    def default_input(self) -> t.IO[bytes]:
        return sys.stdin.buffer

    def process_lines(
        self, file_input: t.IO[bytes] | None, callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        lines = self._lines_for_the_sdk(file_input or self.default_input)
        try:
            counts = super().process_lines(lines, callbacks)  # type: ignore[arg-type]
        except InvalidInputLine as exc:  # a message without a key its type needs (say, no 'record')
            raise LoadError(f"input line {self.line_number}: {str(exc).split(': {')[0]}") from None
        if self.fast_records:
            counts = counts + collections.Counter({"RECORD": self.fast_records})
        return counts

    def _lines_for_the_sdk(self, source: t.IO[bytes] | t.Iterable[bytes]) -> t.Iterator[bytes]:
        """Every non-blank line the fast path does not take, one at a time, in order."""
        decode = _envelope.decode
        lookup = self.fast_stream
        found: dict[str, FastStream | None] = {}
        chunk = _Chunk()
        for lines in _blocks(source):
            for line in lines:
                try:
                    envelope: Envelope | None = decode(line)
                except msgspec.DecodeError:
                    if not line.strip():
                        continue
                    envelope = None
                self.line_number += 1
                if envelope is None or envelope.type != "RECORD":
                    # SCHEMA, BATCH, STATE, ...: the SDK may replace a sink; look streams up afresh.
                    self._spool(chunk)
                    chunk.reset(None, None)
                    found.clear()
                    yield line
                    continue
                name = envelope.stream
                if name != chunk.name or lookup is None:
                    self._spool(chunk)
                    if name not in found:
                        found[name] = lookup(name) if lookup is not None else None
                    chunk.reset(name, found[name])
                stream = chunk.stream
                if stream is not None:
                    record = bytes(envelope.record)
                    if record[:1] == b"{":
                        for key in stream.quoted_keys:
                            if key not in record:
                                break
                        else:
                            if not chunk.records:
                                chunk.first_line = self.line_number
                            chunk.records.append(record)
                            chunk.size += len(record)
                            if len(chunk.records) >= CHUNK_RECORDS or chunk.size >= CHUNK_BYTES:
                                self._spool(chunk)
                            continue
                self._spool(chunk)
                yield line
            # The input has nothing more to read just now (or a block ended): what was gathered goes to
            # its spool before the reader waits, so a batch that is full is loaded while the tap works.
            self._spool(chunk)

    def _spool(self, chunk: _Chunk) -> None:
        """Hand the chunk's records (consecutive lines of one stream) to the stream's sink; empty it."""
        records = chunk.records
        if not records or chunk.stream is None:
            return
        data = b"\n".join(records)
        if not data.isascii():
            try:
                data.decode()
            except UnicodeDecodeError:
                _refuse_bad_utf8(records, chunk.first_line)
        if b"\r" in data:
            # Outside strings (which cannot hold one unescaped) a carriage return is white space, but
            # the databases' line readers would split on it.
            records = [r.replace(b"\r", b" ") for r in records]
            data = b"\n".join(records)
        chunk.stream.take(records, data)
        self.fast_records += len(records)
        chunk.records = []
        chunk.size = 0

    def deserialize_json(self, line: bytes) -> dict:
        try:
            message = _decoder.decode(line)
        except msgspec.DecodeError as exc:
            start = line[:60].decode("utf-8", "replace") if isinstance(line, bytes) else line[:60]
            raise LoadError(f"input line {self.line_number} is not JSON ({exc}): {start!r}") from None
        if not isinstance(message, dict) or "type" not in message:
            raise LoadError(f"input line {self.line_number} is not a Singer message (no 'type' key)")
        return message


class _Chunk:
    """Records of one stream gathered by the fast path, not yet spooled."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.stream: FastStream | None = None
        self.records: list[bytes] = []
        self.size = 0
        self.first_line = 0

    def reset(self, name: str | None, stream: FastStream | None) -> None:
        self.name, self.stream = name, stream


def _refuse_bad_utf8(records: list[bytes], first_line: int) -> None:
    """Fail naming the first record that is not UTF-8, as the SDK's path would."""
    for index, record in enumerate(records):
        try:
            record.decode()
        except UnicodeDecodeError as exc:
            raise LoadError(
                f"input line {first_line + index} is not JSON (invalid UTF-8: {exc.reason})"
            ) from None


def _blocks(source: t.IO[bytes] | t.Iterable[bytes]) -> t.Iterator[list[bytes]]:
    """The input's complete lines, in lists of what one read returned (without their line ends).

    A read returns what the input holds at the moment (at most READ_BYTES), waiting only when it holds
    nothing: the end of a list is where the reader would wait. A line longer than a read is put
    together from its parts. Inputs without `read1` (an iterable of lines) give one line at a time.
    """
    read = getattr(source, "read1", None)
    if read is None:
        for line in t.cast("t.Iterable[bytes | str]", source):
            yield [line.encode() if isinstance(line, str) else line]
        return
    parts: list[bytes] = []
    while block := read(READ_BYTES):
        if parts:
            end = block.find(b"\n")
            if end < 0:
                parts.append(block)
                continue
            parts.append(block[:end])
            first = b"".join(parts)
            parts = []
            block = block[end + 1 :]
            lines = block.split(b"\n")
            lines[0:0] = [first]
        else:
            lines = block.split(b"\n")
        rest = lines.pop()  # what follows the last line end: the start of a line still being read
        if rest:
            parts.append(rest)
        yield lines
    if parts:
        yield [b"".join(parts)]
