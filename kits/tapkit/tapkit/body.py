"""Response bodies read as the API meant them: every number exact, odd bytes survived, fast when plain.

msgspec decodes a page at C speed with every float as ``Decimal`` and integers of any size, so every
number reaches the Singer output with the digits the API sent (singer-sdk's own parser also reads
floats as ``Decimal``), and ``ENCODER`` writes them back the same. Only when a body is declared in
another charset, or the fast decoder refuses it, do we take the road a careful HTTP client takes: a
byte order mark is dropped, the declared charset (or, with none, the one the bytes show) is honoured,
and invalid bytes become U+FFFD, counted so the stream can say how many.

``Envelope`` finds a page's records in the decoded body: a list under the data selector, each an object
with its primary key, or one clear error.
"""

from __future__ import annotations

import codecs
import logging
import operator
import threading
import typing as t
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

import msgspec
from requests.utils import guess_json_utf

from tapkit.errors import ResponseError, describe_request

if t.TYPE_CHECKING:
    import requests

    import keyguard
    from tapkit.typed import TypedPages

DECODER = msgspec.json.Decoder(float_hook=Decimal)
# Decimals as JSON numbers with their digits, integers of any size, dates as ISO text.
ENCODER = msgspec.json.Encoder(decimal_format="number")
_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_replaced = threading.local()


def _replace_and_count(error: UnicodeError) -> tuple[str, int]:
    """A codec error handler: U+FFFD for every byte that is not valid, counted in ``_replaced``."""
    assert isinstance(error, UnicodeDecodeError)
    _replaced.count += error.end - error.start
    return "\ufffd" * (error.end - error.start), error.end


codecs.register_error("tapkit-replace-and-count", _replace_and_count)


class NotJSONError(ValueError):
    """The body is not a JSON document in any encoding it could be in."""


@dataclass
class Body:
    value: t.Any
    replaced: int = 0  # bytes that were not valid in the body's charset, now U+FFFD each
    charset: str = "utf-8"
    plain: bool = False  # read as it came: valid UTF-8 JSON, no byte order mark, nothing replaced


class RawSlices:
    """The bytes each record of the page parsed last came in, for a writer that can send them as they are.

    A record that conformance leaves unchanged is the same JSON as its bytes in the body: writing those
    saves encoding it again (0.7 µs per record of a jobs page, and the conformer's pass). ``wanted`` is
    set by the one writer that uses them; records are told apart by identity, so only the dicts of the
    last page parsed (in the thread that parses and writes) find their bytes.
    """

    def __init__(self) -> None:
        self.wanted = False
        self.typed: TypedPages | None = None  # reads a page into the schema's types (``tapkit.typed``)
        self._records: t.Sequence[t.Any] = ()
        self._raw: list[bytes] = []
        self._by_id: dict[int, bytes] | None = None  # made when first needed

    def keep(self, records: t.Sequence[t.Any], raw: list[bytes] | None) -> None:
        self._records, self._raw, self._by_id = (records, raw, None) if raw is not None else ((), [], None)

    def lines(self, records: list[dict]) -> list[bytes] | None:
        """The bytes of each of ``records`` (all from the page parsed last), or None if any has none."""
        kept, start = self._records, len(self._records) - len(records)
        # the usual case, the page less the records it re-reads (page_overlap): its tail, in order. A list
        # of distinct records that starts at ``start`` and ends where the page ends, with as many records
        # as that tail, is that tail.
        if records and start >= 0 and kept[start] is records[0] and kept[-1] is records[-1]:
            return self._raw[start:]
        if self._by_id is None:
            self._by_id = dict(zip(map(id, kept), self._raw, strict=True))
        found = list(map(self._by_id.get, map(id, records)))
        return None if None in found else t.cast("list[bytes]", found)


_RAW_PAGES: dict[str, msgspec.json.Decoder] = {}


def raw_records(content: bytes, selector: str, count: int) -> list[bytes] | None:
    """The bytes of each of the ``count`` records under ``selector`` in a plain body; None when a record's
    bytes could not stand as one line of its own (the body has line breaks between its tokens: JSON
    strings cannot hold one unescaped) or the list is not read the same way."""
    if b"\n" in content or b"\r" in content:
        return None
    decoder = _RAW_PAGES.get(selector)
    if decoder is None:
        page = msgspec.defstruct("RawPage", [("records", list[msgspec.Raw])], rename={"records": selector})
        decoder = _RAW_PAGES.setdefault(selector, msgspec.json.Decoder(page))
    try:
        raw = decoder.decode(content).records
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return list(map(bytes, raw)) if len(raw) == count else None


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, lower case, or None."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'").lower() or None
    return None


def decode_json(content: bytes, content_type: str | None = None, *, strict: bool = False) -> Body:
    """The JSON document in ``content``; with ``strict``, invalid bytes are an error, not U+FFFD."""
    declared = charset_of(content_type)
    if declared is None or declared in _UTF8:
        try:
            return Body(DECODER.decode(content), plain=True)
        except msgspec.DecodeError:
            pass
    codec = _codec(content, declared)
    _replaced.count = 0
    text = content.decode(codec, "tapkit-replace-and-count")
    replaced, charset = _replaced.count, codec.removesuffix("-sig")
    if replaced and strict:
        raise NotJSONError(f"{replaced} bytes are not valid {charset}")
    try:
        return Body(DECODER.decode(text), replaced, charset)
    except msgspec.DecodeError as exc:
        raise NotJSONError(str(exc)) from None


def _codec(content: bytes, declared: str | None) -> str:
    for bom, codec in _BOMS:
        if content.startswith(bom):  # a byte order mark says more than any header
            return codec
    if declared and _known(declared):
        return declared
    return guess_json_utf(content) or "utf-8"


def _known(charset: str) -> bool:
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True


@dataclass(frozen=True)
class Envelope:
    """Where the records of a page are in its body (a list under ``data_selector``), what each must
    hold (``primary_keys``), and how to tell what is wrong: lines about ``stream``'s requests, masked by
    ``redact``, to ``log``."""

    stream: str
    data_selector: str
    primary_keys: list[str]
    strict: bool  # invalid bytes fail the page instead of becoming U+FFFD
    redact: keyguard.Redactor
    log: logging.Logger
    slices: RawSlices | None = None  # where the records' bytes are kept, when a writer wants them

    def records(self, response: requests.Response) -> list[dict]:
        """The records of a response, or a ResponseError naming its request: never a silent zero."""
        content, content_type = response.content, response.headers.get("Content-Type")
        typed = self._typed(content, content_type)
        if typed is not None:
            return typed
        try:
            decoded = decode_json(content, content_type, strict=self.strict)
        except NotJSONError as exc:
            raise ResponseError(
                f"{self._where(response)}: the response is not JSON ({_or_none(content_type)}): {exc}: "
                f"{self._excerpt(content)}"
            ) from None
        if decoded.replaced:
            self.log.warning(
                "%s: %d byte(s) of the response were not valid %s and are replaced with U+FFFD "
                "(set strict_decoding to fail instead)",
                self._where(response),
                decoded.replaced,
                decoded.charset,
            )
        body = decoded.value
        if not isinstance(body, dict) or self.data_selector not in body:
            found = sorted(body)[:10] if isinstance(body, dict) else type(body).__name__
            raise ResponseError(
                f"{self._where(response)}: the response has no '{self.data_selector}' key holding the "
                f"records (found {found}): {self._excerpt(content)}"
            )
        records = body[self.data_selector]
        if not isinstance(records, list):
            raise ResponseError(
                f"{self._where(response)}: '{self.data_selector}' holds {type(records).__name__}, "
                "not a list of records"
            )
        try:  # every record an object with its primary key: checked at C speed, explained if not
            for key in self.primary_keys:
                deque(map(operator.itemgetter(key), records), maxlen=0)
        except (KeyError, TypeError, IndexError):
            pass
        else:
            if self.slices is not None and self.slices.wanted:
                raw = raw_records(content, self.data_selector, len(records)) if decoded.plain else None
                self.slices.keep(records, raw)
            return records
        for record in records:
            if not isinstance(record, dict) or any(key not in record for key in self.primary_keys):
                raise ResponseError(
                    f"{self._where(response)}: a record is not an object with primary key "
                    f"{self.primary_keys}: {self.redact.excerpt(ENCODER.encode(record).decode())}"
                )
        return records

    def _typed(self, content: bytes, content_type: str | None) -> list | None:
        """A plain UTF-8 page whose every record fits the schema, read into its types with the bytes each
        came in (``tapkit.typed``), for a writer that sends records as they came; else None. Bytes of the
        body outside the records are not read, so ``strict_decoding`` takes the usual way."""
        slices = self.slices
        if slices is None or not slices.wanted or slices.typed is None or self.strict:
            return None
        declared = charset_of(content_type)
        if declared is not None and declared not in _UTF8:
            return None
        read = slices.typed.read(content)
        if read is None:
            return None
        records, raw = read
        slices.keep(records, raw)
        return records

    def _where(self, response: requests.Response) -> str:
        return describe_request(self.stream, response.request, self.redact)

    def _excerpt(self, content: bytes) -> str:
        return self.redact.excerpt(content.decode("utf-8", "replace"))


def _or_none(content_type: str | None) -> str:
    return "no content type" if content_type is None else content_type
