"""What the three dlt sources share: the resource-table row, the config builder, the response checks
and the key check. Nothing API-specific lives here; paging is in ``_paging``, HTTP in ``_http``.

Every piece here exists because dlt 1.31's defaults disagree with the documents or lose data:

* A ``data_selector`` that matches nothing yields zero rows with no warning. ``envelope_check``
  turns that into an ``EnvelopeError`` naming the resource and the URL; likewise an integer beyond
  64 bits, on which dlt's writers fail the whole load with a bare ``TypeError``.
* A key pasted with a line break ends in requests' ``Invalid header value b'<the key>\\n'``; the
  source strips surrounding whitespace (with a warning naming the setting), refuses control
  characters inside, and masks the key in everything the process prints (keyguard).
"""

from __future__ import annotations

import decimal
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import dlt
from dlt.common import jsonpath
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Session
from dlt.sources.rest_api import RESTAPIConfig, rest_api_resources
from dlt.sources.rest_api.config_setup import register_paginator
from requests import Response
from requests.utils import guess_json_utf

import keyguard
from dlt_sources._errors import EnvelopeError, SettingError
from dlt_sources._http import (
    BACKOFF_FACTOR,
    MAX_ATTEMPTS,
    REQUEST_TIMEOUT,
    RETRY_STATUSES,
    retrying_session,
    safe_url,
)
from dlt_sources._paging import ReceivedCountOffsetPaginator

log = logging.getLogger("dlt_sources")

PRIMARY_KEY = "id"
WRITE_DISPOSITION = "merge"

# Registered name of the loss-free paginator, used in the rest_api configs instead of "offset".
RECEIVED_OFFSET = "offset_by_received"
register_paginator(RECEIVED_OFFSET, ReceivedCountOffsetPaginator)

# The widest integers dlt loads (a BIGINT column): beyond them its writers fail the whole load.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# An integer outside that range has at least 19 digits: only a page holding one is searched.
INT64_DIGITS = 19


@dataclass(frozen=True)
class ResourceRow:
    """One resource of a document: a row of the resource table.

    ``page_size`` None means the document gives the resource no paginator: one request, one page.
    ``size_param`` is the query parameter that carries ``page_size`` (dlt's ``limit_param``).
    """

    name: str
    path: str
    data_selector: str
    page_size: int | None = None
    offset_param: str | None = None
    size_param: str | None = None

    @property
    def paginated(self) -> bool:
        return self.page_size is not None


def _noting_long(sink: list[str]) -> Callable[[str], int]:
    """A JSON ``parse_int`` that notes the integers with as many digits as 64 bits hold, or more."""

    def parse_int(text: str) -> int:
        if len(text.lstrip("-")) >= INT64_DIGITS:
            sink.append(text)
        return int(text)

    return parse_int


def _noting_rounded(sink: list[tuple[str, float]]) -> Callable[[str], float]:
    """A JSON ``parse_float`` that notes the numbers a double does not hold exactly as written (more
    significant digits than a double keeps, or beyond its range), as requests will read them."""

    def parse_float(text: str) -> float:
        value = float(text)
        # 15 characters hold at most 15 significant digits, which a double keeps (unless an exponent
        # takes the number out of its range or precision)
        if (len(text) > 15 or "e" in text or "E" in text) and _digits(repr(value)) != _digits(text):
            sink.append((text, value))
        return value

    return parse_float


def _digits(text: str) -> decimal.Decimal | str:
    try:
        return decimal.Decimal(text).normalize()
    except decimal.InvalidOperation:
        return text


def _beyond_int64(value: Any, where: str) -> tuple[str, int] | None:
    """The first integer in ``value`` that dlt cannot load, with where it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None if INT64_MIN <= value <= INT64_MAX else (where, value)
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _beyond_int64(item, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]")
        if found:
            return found
    return None


def invalid_bytes(response: Response) -> tuple[int, str]:
    """How many runs of bytes in the body are not valid in the charset requests reads it in (each
    becomes one U+FFFD in the records dlt gets), and that charset."""
    content = response.content or b""
    encoding = response.encoding or guess_json_utf(content) or "utf-8"
    try:
        content.decode(encoding)
        return 0, encoding
    except UnicodeDecodeError:
        # what "replace" puts in, less what "ignore" leaves: the replacement characters added
        replaced = len(content.decode(encoding, "replace")) - len(content.decode(encoding, "ignore"))
        return replaced, encoding
    except LookupError:
        return 0, encoding


def envelope_check(resource: str, data_selector: str) -> Callable[..., None]:
    """A response hook (rest_api ``response_actions`` callable) that fails loudly when a 2xx body
    has nothing at ``data_selector``, something other than a list of records there, or an integer
    dlt cannot load.

    dlt alone would log at most an INFO line and load zero rows. Non-2xx responses are left to
    the retry policy and dlt's raise_for_status. Bytes not valid in the body's charset (requests reads
    each as U+FFFD, and the record is kept) are counted in one WARNING a page.
    """
    selector = jsonpath.compile_path(data_selector)

    def check(response: Response, *args: Any, **kwargs: Any) -> None:
        if not 200 <= response.status_code < 300:
            return
        url = safe_url(response.url)
        replaced, encoding = invalid_bytes(response)
        if replaced:
            log.warning(
                "resource %r: %d run(s) of bytes in the response from %s were not valid %s; each was "
                "read as U+FFFD (the records are kept)",
                resource,
                replaced,
                url,
                encoding,
            )
        long_integers: list[str] = []
        rounded: list[tuple[str, float]] = []
        try:
            body = response.json(parse_int=_noting_long(long_integers), parse_float=_noting_rounded(rounded))
        except ValueError:
            raise EnvelopeError(
                f"resource {resource!r}: {url} answered HTTP {response.status_code} with a body that is "
                "not JSON"
            ) from None
        found = jsonpath.find_values(selector, body)
        if not found:
            keys = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise EnvelopeError(
                f"resource {resource!r}: the response from {url} has no {data_selector!r} key "
                f"(it has {keys}); refusing to load zero rows"
            )
        records = found[0]
        if not isinstance(records, list):
            raise EnvelopeError(
                f"resource {resource!r}: {data_selector!r} in the response from {url} is a "
                f"{type(records).__name__}, not a list of records"
            )
        if rounded:
            text, value = rounded[0]
            log.warning(
                "resource %r: %d number(s) in the response from %s have more digits than a double holds "
                "(or lie beyond its range) and are loaded rounded (the first: %s, loaded as %r)",
                resource,
                len(rounded),
                url,
                text,
                value,
            )
        big = long_integers and _beyond_int64(records, "")
        if big:
            where, value = big
            index, _, field = where.partition(".")
            raise EnvelopeError(
                f"resource {resource!r}: the response from {url} holds {value} in record {index.strip('[]')}"
                f" at {field!r}, an integer beyond 64 bits, which dlt cannot load (its writers fail the "
                "whole load on it)"
            )

    return check


def log_retryable(resource: str) -> Callable[..., None]:
    """A response hook that logs each retryable status before the retry policy acts on it."""

    def hook(response: Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code in RETRY_STATUSES:
            retry_after = response.headers.get("Retry-After")
            log.warning(
                "%s: HTTP %s from %s%s",
                resource,
                response.status_code,
                safe_url(response.url),
                f" (Retry-After: {retry_after})" if retry_after else "",
            )

    return hook


def checked_key(setting: str, value: Any) -> str:
    """The key as it may go into a header: masked from now on in everything the process prints,
    surrounding whitespace stripped (with a warning naming the setting, never the value), control
    characters inside refused before any request."""
    if not isinstance(value, str):
        raise SettingError(f"{setting}: must be text, got {type(value).__name__}")
    keyguard.install(value)
    if value != value.strip():
        log.warning("config: %s has whitespace around it: it is stripped", setting)
        value = value.strip()
    if not value:
        raise SettingError(f"{setting}: must not be empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise SettingError(f"{setting}: contains control characters (a line break, tab or other)")
    return value


def endpoint_paginator(row: ResourceRow, max_pages: int | None = None) -> Any:
    """The paginator of a resource as rest_api config; with ``max_pages`` (a setting the documents do
    not know, which dlt's config validation would refuse in a dict) the paginator itself."""
    if not row.paginated:
        # Deviation: the documents give these resources no paginator; dlt would then guess one
        # and log a fallback warning. They are one page each: say so.
        return {"type": "single_page"}
    paginator: dict[str, Any] = {
        # Deviation: "offset" -> our loss-free subclass (advances by records received).
        "type": RECEIVED_OFFSET,
        "limit": row.page_size,
        "offset_param": row.offset_param,
        # Deviation where the document writes "size_param": dlt 1.31 calls it limit_param.
        "limit_param": row.size_param,
        # Deviation: no total in the responses; dlt's default total_path "total" would raise.
        "total_path": None,
    }
    if max_pages is None:
        return paginator
    del paginator["type"]
    return ReceivedCountOffsetPaginator(**paginator, max_pages=max_pages)


def rest_api_config(
    *,
    base_url: str,
    auth: dict[str, Any],
    resources: Sequence[ResourceRow],
    session: Session,
    max_pages: int | None = None,
) -> RESTAPIConfig:
    """The rest_api_source configuration of one document, built from its resource table."""
    config: dict[str, Any] = {
        "client": {"base_url": base_url, "auth": auth, "session": session},
        "resource_defaults": {"primary_key": PRIMARY_KEY, "write_disposition": WRITE_DISPOSITION},
        "resources": [
            {
                "name": row.name,
                "endpoint": {
                    "path": row.path,
                    "method": "GET",
                    "data_selector": row.data_selector,
                    "paginator": endpoint_paginator(row, max_pages),
                    # Addition: fail loudly on a wrong envelope instead of loading zero rows.
                    "response_actions": [
                        log_retryable(row.name),
                        envelope_check(row.name, row.data_selector),
                    ],
                },
            }
            for row in resources
        ],
    }
    return cast(RESTAPIConfig, config)


def api_source(
    name: str, default_base_url: str, auth: dict[str, Any], key_field: str, resources: Sequence[ResourceRow]
) -> Callable[..., Any]:
    """The dlt source of one API: its resource table on the shared client, paginator and retry session.

    Secrets and config resolve under ``sources.<name>`` (``SOURCES__CRM__API_KEY``, ...).
    """

    @dlt.source(name=name, section=name)
    def source(
        api_key: str = dlt.secrets.value,
        base_url: str = default_base_url,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_factor: float = BACKOFF_FACTOR,
        request_timeout: float = REQUEST_TIMEOUT,
        max_pages: int | None = None,
    ) -> list[DltResource]:
        key = checked_key(f"sources.{name}.api_key", api_key)
        if max_pages is not None and max_pages < 1:
            raise SettingError(f"sources.{name}.max_pages: {max_pages} is too small (minimum 1)")
        if not request_timeout > 0:
            raise SettingError(f"sources.{name}.request_timeout: {request_timeout} is not more than 0")
        config = rest_api_config(
            base_url=base_url,
            auth={**auth, key_field: key},
            resources=resources,
            session=retrying_session(
                max_attempts=max_attempts, backoff_factor=backoff_factor, request_timeout=request_timeout
            ),
            max_pages=max_pages,
        )
        return rest_api_resources(config)

    source.__doc__ = f"All {len(resources)} {name} resources, merged on ``id``."
    return source
