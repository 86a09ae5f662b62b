"""Response bodies the HTTP layer sends besides pages: error documents and the bodies of faults."""

from __future__ import annotations

import json
from http import HTTPStatus

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
