"""The Singer message reader: bytes from stdin, RECORD lines on a fast path, the rest through the SDK.

The fast path: each line's envelope is decoded by msgspec into a small struct whose `record` is
`msgspec.Raw` (the record's bytes, checked to be well-formed JSON but never turned into Python objects).
A RECORD of a stream whose sink can take it (decided once per stream in `loaderkit.fastpath`: no stream
map, no flattening, no validation in Python, no record metadata), whose record is a JSON object holding
every key property, goes to that stream's spool file as the bytes the tap sent, a few hundred records at
a time; the database parses and checks them set-wise when it loads the batch. `BulkReader.classify` says
where each line goes; a `Chunker` gathers the records and spools them.

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
import enum
import json
import sys
import typing as t
from dataclasses import dataclass

import msgspec
from singer_sdk.singerlib.encoding import GenericSingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine

from loaderkit.errors import LoadError, describe_key
from loaderkit.schemas import check_schema_message

_decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)

# Records gathered before they are spooled together: bounds the reader's memory (by bytes too, for
# large records). Whatever was gathered is spooled whenever the input has no more to read at once.
CHUNK_RECORDS = 1000
CHUNK_BYTES = 1 << 20
# The most bytes read from the input at once.
READ_BYTES = 1 << 20


@dataclass(frozen=True)
class FastStream:
    """How the fast path hands records of one stream to its sink (`loaderkit.fastpath` decides)."""

    # Spools records (each one JSON object, UTF-8, no carriage return), given as a list and joined by
    # newlines; the sink loads a batch whenever one is full.
    take: t.Callable[[list[bytes], bytes], None]
    # Each key property as it reads in JSON (`"id"`): a record whose bytes lack one takes the SDK's path.
    quoted_keys: tuple[bytes, ...]


# stream name -> how its records are spooled, or None when they take the SDK's path
Route = t.Callable[[str], FastStream | None]


class Envelope(msgspec.Struct):
    """What the fast path reads of a Singer message: its type, stream and the record's raw bytes."""

    type: str = ""
    stream: str = ""
    record: msgspec.Raw = msgspec.Raw(b"")


_envelope = msgspec.json.Decoder(Envelope)


class Goes(enum.Enum):
    """Where a line goes."""

    NOWHERE = "a blank line"
    TO_THE_SDK = "a message for singer-sdk's reading loop"
    TO_A_SPOOL = "a record the fast path spools"


# The members as module names: a class attribute of an Enum costs several times a global's lookup, and
# the reader looks one up twice per record.
NOWHERE, TO_THE_SDK, TO_A_SPOOL = Goes.NOWHERE, Goes.TO_THE_SDK, Goes.TO_A_SPOOL


class BulkReader(GenericSingerReader[bytes]):
    """Reads Singer messages from binary stdin (or a file), skipping blank lines, counting lines.

    `route` says, per stream, whether and how its records take the fast path; without one, every line
    goes through the SDK.
    """

    def __init__(self, route: Route | None = None) -> None:
        super().__init__()
        self.line_number = 0
        self.fast_records = 0
        self._route = route
        # streams looked up since the last message that was not a RECORD
        self._routes: dict[str, FastStream | None] = {}

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

    def classify(self, line: bytes) -> tuple[Goes, FastStream | None, bytes]:
        """Where one input line goes and, for a record the fast path takes, its stream and bytes.

        A record takes the fast path when its stream's route allows it and its bytes are a JSON object
        holding every key property; any other record, and every other message, goes to the SDK.
        """
        try:
            envelope = _envelope.decode(line)
        except msgspec.DecodeError:  # not JSON: the SDK's loop words the error (blank: skipped)
            return (TO_THE_SDK if line.strip() else NOWHERE), None, b""
        if envelope.type != "RECORD":
            # SCHEMA, BATCH, STATE, ...: the SDK may replace a sink; look streams up afresh.
            self._routes.clear()
            return TO_THE_SDK, None, b""
        name = envelope.stream
        try:
            stream = self._routes[name]
        except KeyError:
            stream = self._routes[name] = self._route(name) if self._route is not None else None
        if stream is None:
            return TO_THE_SDK, None, b""
        record = bytes(envelope.record)
        if record[:1] != b"{":
            return TO_THE_SDK, None, b""
        for key in stream.quoted_keys:
            if key not in record:
                return TO_THE_SDK, None, b""
        return TO_A_SPOOL, stream, record

    def _lines_for_the_sdk(self, source: t.IO[bytes] | t.Iterable[bytes]) -> t.Iterator[bytes]:
        """Every non-blank line the fast path does not take, one at a time, in order."""
        chunk = Chunker(self)
        classify, add, spool = self.classify, chunk.add, chunk.spool  # (names looked up once)
        decode, routes = _envelope.decode, self._routes
        keys: tuple[bytes, ...] = ()  # the quoted key properties of the stream being gathered
        for lines in _blocks(source):
            for line in lines:
                # The common line inline: one more record of the stream being gathered, which the fast
                # path takes. (What classify and Chunker.add do, without two calls per record: 1,000,000
                # records read 0.1 s faster.) Any other line goes through classify.
                if chunk.records:
                    try:
                        envelope = decode(line)
                    except msgspec.DecodeError:
                        envelope = None
                    if (
                        envelope is not None
                        and envelope.type == "RECORD"
                        and routes.get(envelope.stream) is chunk.stream
                    ):
                        record = bytes(envelope.record)
                        for key in keys:
                            if key not in record:
                                break
                        else:
                            if record[:1] == b"{":
                                self.line_number += 1
                                chunk.records.append(record)
                                chunk.size += len(record)
                                if len(chunk.records) >= CHUNK_RECORDS or chunk.size >= CHUNK_BYTES:
                                    spool()
                                continue
                goes, stream, record = classify(line)
                if goes is TO_A_SPOOL:
                    self.line_number += 1
                    add(stream, record, self.line_number)
                    keys = stream.quoted_keys if stream is not None else ()
                elif goes is TO_THE_SDK:
                    self.line_number += 1
                    spool()  # what came before the line is in its spool before the SDK sees it
                    yield line
            # The input has nothing more to read just now (or a block ended): what was gathered goes to
            # its spool before the reader waits, so a batch that is full is loaded while the tap works.
            spool()

    def deserialize_json(self, line: bytes) -> dict:
        try:
            message = _decoder.decode(line)
        except msgspec.DecodeError as exc:
            surrogate = _lone_surrogate(line)
            if surrogate:
                raise LoadError(f"input line {self.line_number}: {surrogate}") from None
            start = line[:60].decode("utf-8", "replace") if isinstance(line, bytes) else line[:60]
            raise LoadError(f"input line {self.line_number} is not JSON ({exc}): {start!r}") from None
        if not isinstance(message, dict) or "type" not in message:
            raise LoadError(f"input line {self.line_number} is not a Singer message (no 'type' key)")
        if message["type"] == "SCHEMA":
            check_schema_message(message, self.line_number)
        return message


class Chunker:
    """Gathers consecutive fast-path records of one stream and spools them together: a few hundred at a
    time (at most CHUNK_RECORDS or CHUNK_BYTES), whenever the stream changes, and before any line the
    SDK reads."""

    def __init__(self, reader: BulkReader) -> None:
        self.reader = reader
        self.stream: FastStream | None = None
        self.records: list[bytes] = []
        self.size = 0
        self.first_line = 0

    def add(self, stream: FastStream | None, record: bytes, line_number: int) -> None:
        if stream is not self.stream:
            self.spool()
            self.stream = stream
        if not self.records:
            self.first_line = line_number
        self.records.append(record)
        self.size += len(record)
        if len(self.records) >= CHUNK_RECORDS or self.size >= CHUNK_BYTES:
            self.spool()

    def spool(self) -> None:
        """Hand the records gathered to their stream's sink; start afresh."""
        records = self.records
        if not records or self.stream is None:
            return
        data = b"\n".join(records)
        if not data.isascii():
            try:
                data.decode()
            except UnicodeDecodeError:
                _refuse_bad_utf8(records, self.first_line)
        if b"\r" in data:
            # Outside strings (which cannot hold one unescaped) a carriage return is white space, but
            # the databases' line readers would split on it.
            records = [r.replace(b"\r", b" ") for r in records]
            data = b"\n".join(records)
        self.stream.take(records, data)
        self.reader.fast_records += len(records)
        self.records = []
        self.size = 0


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


def _visible(value: t.Any) -> t.Any:
    """`value` with each lone surrogate shown as its escape (\\ud800), so it can be printed."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_visible(k): _visible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_visible(v) for v in value]
    return value


def _surrogate_at(value: t.Any, where: str) -> str | None:
    """Where in `value` a string (or object key) holds a lone surrogate, as `where` or `where.k[0]`."""
    if isinstance(value, str):
        return where if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        inner = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else key
        found = _surrogate_at(key, inner) or _surrogate_at(item, inner)
        if found:
            return found
    return None


def _lone_surrogate(line: bytes | str) -> str | None:
    """Why a line msgspec refuses is refused, when it is JSON whose string holds a lone surrogate escape
    (\\ud800 not followed by a low one: JSON's grammar allows it, but it is no Unicode character, so no
    UTF-8 text, in DuckDB or PostgreSQL, can hold it). msgspec calls such a line truncated."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    record = message.get("record")
    where = _surrogate_at(record, "") if isinstance(record, dict) else None
    if where is None:
        where = _surrogate_at(message, "")
        return (
            f"{_visible(where)!r} holds a lone surrogate escape, which is not Unicode text" if where else None
        )
    stream = _visible(message.get("stream"))
    return (
        f"stream {stream!r}: record {describe_key(_visible(record), ())}: property {_visible(where)!r} "
        "holds a lone surrogate escape (\\ud800 to \\udfff without its pair), which is not Unicode text: "
        "no text column can hold it"
    )
