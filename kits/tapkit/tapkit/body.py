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
            return Body(DECODER.decode(content))
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

    def records(self, response: requests.Response) -> list[dict]:
        """The records of a response, or a ResponseError naming its request: never a silent zero."""
        content, content_type = response.content, response.headers.get("Content-Type")
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
            return records
        for record in records:
            if not isinstance(record, dict) or any(key not in record for key in self.primary_keys):
                raise ResponseError(
                    f"{self._where(response)}: a record is not an object with primary key "
                    f"{self.primary_keys}: {self.redact.excerpt(ENCODER.encode(record).decode())}"
                )
        return records

    def _where(self, response: requests.Response) -> str:
        return describe_request(self.stream, response.request, self.redact)

    def _excerpt(self, content: bytes) -> str:
        return self.redact.excerpt(content.decode("utf-8", "replace"))


def _or_none(content_type: str | None) -> str:
    return "no content type" if content_type is None else content_type
