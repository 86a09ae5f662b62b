"""Errors that end a sync with one clear line, and URLs fit for them (secrets: see keyguard)."""

from __future__ import annotations

import re
import typing as t
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

from keyguard import MASK

_SECRET_PARAM = re.compile(r"(key|token|secret|password|passwd|auth|signature|sig)", re.IGNORECASE)


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


def redact_url(url: str, redact: t.Callable[[str], str] = str) -> str:
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
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def describe_request(stream: str, request: t.Any, redact: t.Callable[[str], str] = str) -> str:
    """A stream's request as a line names it: ``stream 'x': GET <url, masked>``."""
    if request is None:
        return f"stream '{stream}'"
    return f"stream '{stream}': {request.method} {redact_url(request.url or '', redact)}"
