"""Shared kit for Singer taps over offset-paginated JSON REST APIs, built on singer-sdk."""

from tapkit.errors import (
    ConfigError,
    PaginationError,
    ResponseError,
    RetriesExhaustedError,
    TapkitError,
)
from tapkit.pagination import OverlapPaginator
from tapkit.retry import RetryPolicy, parse_retry_after
from tapkit.stream import OffsetStream
from tapkit.tap import RestTap

__all__ = [
    "ConfigError",
    "OffsetStream",
    "OverlapPaginator",
    "PaginationError",
    "ResponseError",
    "RestTap",
    "RetriesExhaustedError",
    "RetryPolicy",
    "TapkitError",
    "parse_retry_after",
]
