"""Errors that end a sync with one clear line, and the redaction that keeps secrets out of them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

_SECRET_PARAM = re.compile(r"(key|token|secret|password|passwd|auth|signature|sig)", re.IGNORECASE)
_EXCERPT_CHARS = 200
MASK = "***"


class TapkitError(Exception):
    """A failure whose message is complete on one line: no traceback needed to understand it."""


class ResponseError(TapkitError, FatalAPIError):
    """The API answered with something we cannot use: a non-retriable status or a malformed body."""


class RetriableResponseError(RetriableAPIError):
    """A response worth another attempt (429, 500, 502, 503, 504): the retry policy decides."""


class RetriesExhaustedError(TapkitError, FatalAPIError):
    """Every attempt the retry policy allows has failed."""


class StateError(TapkitError):
    """The state file is not a Singer state: reported on one line before any request."""


class PaginationError(TapkitError):
    """The API's pages do not add up: the offset is ignored or records repeat."""


class Cancelled(Exception):
    """The sync is stopping (a page failed, or the stream ended early): this request was not sent."""


class ConfigError(ConfigValidationError):
    """Invalid settings, reported on one line before any request is made."""


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of every (non-trivial) secret in ``text`` with a mask."""
    for secret in secrets:
        if secret and len(secret) >= 3:  # masking a 1-2 char "secret" would shred the message
            text = text.replace(secret, MASK)
    return text


def redact_url(url: str, secrets: Iterable[str | None] = ()) -> str:
    """A URL fit for a log line: no user info, no secret-looking query values, no known secret."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode(
        [
            (k, MASK if _SECRET_PARAM.search(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, "")), secrets)


def excerpt(text: str, secrets: Iterable[str | None] = ()) -> str:
    """The start of a response body on one line, secrets masked."""
    flat = " ".join(text.split())
    if len(flat) > _EXCERPT_CHARS:
        flat = flat[:_EXCERPT_CHARS] + "…"
    return redact(flat, secrets) or "(empty body)"
