"""Response bodies the HTTP layer sends besides pages: error documents and the bodies of faults."""

from __future__ import annotations

import codecs
import json
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, quote_plus

_ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error_body(status: int, message: str | None = None) -> bytes:
    """``{"error": <name>, "message": ...}`` for an error status."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    name = _ERROR_NAMES.get(status, phrase.lower().replace(" ", "_"))
    return json.dumps({"error": name, "message": message or phrase}).encode()


HTML_ERROR = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1><p>The upstream server returned an invalid response.</p>"
    b"<hr><address>nginx</address></body></html>\n"
)

BOM = b"\xef\xbb\xbf"
BAD_BYTE = b"\xff"  # never valid in UTF-8
ECHO_FILLER = "."
_HOLE = "\x00@@VALUE@@\x00"


def _json_escape(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: characters the charset lacks become JSON \\u escapes (pairs beyond the BMP)."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for ch in exc.object[exc.start : exc.end]:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            out.append(f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}")
        else:
            out.append(f"\\u{cp:04x}")
    return "".join(out), exc.end


codecs.register_error("api_sandbox.json_escape", _json_escape)


def encode_charset(body: bytes, charset: str) -> bytes:
    """The UTF-8 JSON ``body`` in ``charset``; what it cannot encode as JSON \\u escapes (all non-ASCII text
    of a JSON document lies inside strings, where an escape means the same character)."""
    return body.decode("utf-8").encode(charset, errors="api_sandbox.json_escape")


def target_field(record: dict[str, Any], name: str | None) -> str:
    """``name``, or the first field after ``id`` (in the record's order) whose value is a non-empty string."""
    if name is not None:
        return name
    for key, value in record.items():
        if key != "id" and isinstance(value, str) and value:
            return key
    return "name"


def splice(blob: bytes, name: str, value_text: bytes) -> bytes:
    """Record ``blob`` with the value of field ``name`` (added at the end if absent) as ``value_text``."""
    record = json.loads(blob)
    record[name] = _HOLE
    before, after = json.dumps(record, ensure_ascii=False, separators=(",", ":")).split(json.dumps(_HOLE))
    return before.encode() + value_text + after.encode()


def bad_byte(blob: bytes, name: str | None) -> bytes:
    """The first character of a string value replaced by the one byte 0xFF (its whole UTF-8 sequence or
    escape, so exactly one invalid byte); a decoder that replaces errors reads U+FFFD + the rest."""
    record = json.loads(blob)
    key = target_field(record, name)
    value = record.get(key)
    rest = value[1:] if isinstance(value, str) else ""
    return splice(blob, key, b'"' + BAD_BYTE + json.dumps(rest, ensure_ascii=False)[1:].encode())


def pad_record(blob: bytes, size: int, name: str | None) -> bytes:
    """The record with one string field lengthened by ASCII filler so the record is ``size`` bytes (or as
    small as it gets, if it is larger already)."""
    record = json.loads(blob)
    key = target_field(record, name)
    value = record.get(key)
    text = value if isinstance(value, str) else ""
    base = splice(blob, key, json.dumps(text, ensure_ascii=False).encode())
    filler = "x" * max(0, size - len(base))
    return splice(blob, key, json.dumps(text + filler, ensure_ascii=False).encode())


def echo_body(key: str | None, pad: int) -> bytes:
    """A 401 that echoes the key it got: raw, ``quote(key, safe="")`` and ``quote_plus(key)``."""
    raw = key or ""
    message = f"{ECHO_FILLER * pad}invalid key {raw} (quoted: {quote(raw, safe='')}, plus: {quote_plus(raw)})"
    return json.dumps({"error": "unauthorized", "message": message}, ensure_ascii=False).encode()


def fill_location(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{name}`` of ``values`` replaced (other braces stay as written)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template
