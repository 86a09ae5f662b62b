"""What the three dlt sources share: the resource-table row, the retry session, the loss-free
offset paginator and the envelope check. Nothing API-specific lives here.

Every piece here exists because dlt 1.31's defaults disagree with the documents or lose data:

* ``OffsetPaginator`` advances the offset by the page size it *asked* for. A server that clamps
  the page size (asked 1000, got 100) then has 900 records skipped per page, silently.
  ``ReceivedCountOffsetPaginator`` advances by what arrived and stops only on an empty page.
* A ``data_selector`` that matches nothing yields zero rows with no warning. ``envelope_check``
  turns that into an ``EnvelopeError`` naming the resource and the URL.
* dlt retries 429 and *every* 5xx, with its own attempt count and backoff read from
  ``[runtime]`` when the session is built. ``retrying_session`` builds the session itself with
  exactly the documents' policy, so nothing read later can change it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import dlt
from dlt.common import jsonpath
from dlt.sources import DltResource
from dlt.sources.helpers.requests import Client, Session
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from dlt.sources.helpers.rest_client.redaction import sanitize_url
from dlt.sources.rest_api import RESTAPIConfig, rest_api_resources
from dlt.sources.rest_api.config_setup import register_paginator
from requests import Request, Response

log = logging.getLogger("dlt_sources")

# The documents' retry policy: "retry on 429, 500, 502, 503, 504; max retries 3; backoff factor 2".
RETRY_STATUSES: tuple[int, ...] = (429, 500, 502, 503, 504)
MAX_ATTEMPTS = 4  # dlt counts attempts: the first try plus 3 retries
BACKOFF_FACTOR = 2.0  # tenacity wait_exponential(multiplier=2): waits 2 s, 4 s, 8 s
MAX_RETRY_DELAY = 300.0  # dlt's default cap, applies to Retry-After as well
REQUEST_TIMEOUT = 60.0  # dlt's default, seconds

PRIMARY_KEY = "id"
WRITE_DISPOSITION = "merge"

# Registered name of the paginator below, used in the rest_api configs instead of "offset".
RECEIVED_OFFSET = "offset_by_received"


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


class EnvelopeError(Exception):
    """A 2xx response whose body does not hold the records where the document says they are."""


class OffsetIgnoredError(Exception):
    """The server answered two consecutive offsets with the same page: paging would never end."""


class ReceivedCountOffsetPaginator(OffsetPaginator):
    """dlt's ``OffsetPaginator``, but loss-free against servers that clamp or ignore page sizes.

    * The next offset is the current offset plus the number of records *received*, not plus
      ``limit``: asked for 1000, served 100, the next request starts at +100.
    * A page shorter than ``limit`` is not the end (a clamped page is always short); only an
      empty page is. This costs one extra request per resource, the price of not knowing the clamp.
    * No total: the documents' APIs return none, so ``total_path`` is always ``None``.
    * If two consecutive pages start with the same record the server is ignoring the offset
      and paging would never end: raise instead of looping.
    """

    def __init__(
        self,
        limit: int,
        offset: int = 0,
        offset_param: str | None = None,
        limit_param: str | None = None,
        maximum_offset: int | None = None,
        total_path: None = None,
        stop_after_empty_page: bool = True,
    ) -> None:
        if total_path is not None or not stop_after_empty_page:
            raise ValueError(
                f"{type(self).__name__} stops on the first empty page and reads no total: "
                "leave total_path None and stop_after_empty_page True"
            )
        super().__init__(
            limit=limit,
            offset=offset,
            offset_param=offset_param,
            limit_param=limit_param,
            total_path=None,
            maximum_offset=maximum_offset,
            stop_after_empty_page=True,
        )
        self._previous_first: Any = None

    def init_request(self, request: Request) -> None:
        self._previous_first = None
        super().init_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        if not data:
            self._has_next_page = False
            return
        if self._previous_first is not None and data[0] == self._previous_first:
            raise OffsetIgnoredError(
                f"{sanitize_url(response.url)} returned the same first record as the previous page: "
                f"the server ignores the {self.param_name!r} parameter; stopping instead of looping"
            )
        self._previous_first = data[0]
        self.current_value += len(data)
        if self.maximum_value is not None and self.current_value >= self.maximum_value:
            self._has_next_page = False


register_paginator(RECEIVED_OFFSET, ReceivedCountOffsetPaginator)


def envelope_check(resource: str, data_selector: str) -> Callable[..., None]:
    """A response hook (rest_api ``response_actions`` callable) that fails loudly when a 2xx body
    has nothing at ``data_selector``, or something other than a list of records there.

    dlt alone would log at most an INFO line and load zero rows. Non-2xx responses are left to
    the retry policy and dlt's raise_for_status.
    """
    selector = jsonpath.compile_path(data_selector)

    def check(response: Response, *args: Any, **kwargs: Any) -> None:
        if not 200 <= response.status_code < 300:
            return
        url = sanitize_url(response.url)
        try:
            body = response.json()
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
        if not isinstance(found[0], list):
            raise EnvelopeError(
                f"resource {resource!r}: {data_selector!r} in the response from {url} is a "
                f"{type(found[0]).__name__}, not a list of records"
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
                sanitize_url(response.url),
                f" (Retry-After: {retry_after})" if retry_after else "",
            )

    return hook


def retrying_session(
    max_attempts: int = MAX_ATTEMPTS,
    backoff_factor: float = BACKOFF_FACTOR,
    max_retry_delay: float = MAX_RETRY_DELAY,
    request_timeout: float = REQUEST_TIMEOUT,
) -> Session:
    """A requests session whose ``send`` retries exactly ``RETRY_STATUSES`` (plus dropped
    connections and timeouts, dlt's default) with the documents' attempt count and backoff,
    honouring ``Retry-After``.

    Built here, explicitly, because dlt's ``RESTClient`` otherwise builds its own session
    retrying every 5xx with attempts and backoff read from ``[runtime]`` at construction time.
    Arguments passed explicitly win over dlt's config injection into ``Client``.
    """
    client = Client(
        request_timeout=request_timeout,
        raise_for_status=False,  # rest_api raises through its response hooks, after our checks
        status_codes=RETRY_STATUSES,
        request_max_attempts=max_attempts,
        request_backoff_factor=backoff_factor,
        request_max_retry_delay=max_retry_delay,
        respect_retry_after_header=True,
    )
    return client.session


def endpoint_paginator(row: ResourceRow) -> dict[str, Any]:
    if not row.paginated:
        # Deviation: the documents give these resources no paginator; dlt would then guess one
        # and log a fallback warning. They are one page each: say so.
        return {"type": "single_page"}
    return {
        # Deviation: "offset" -> our loss-free subclass (advances by records received).
        "type": RECEIVED_OFFSET,
        "limit": row.page_size,
        "offset_param": row.offset_param,
        # Deviation where the document writes "size_param": dlt 1.31 calls it limit_param.
        "limit_param": row.size_param,
        # Deviation: no total in the responses; dlt's default total_path "total" would raise.
        "total_path": None,
    }


def rest_api_config(
    *,
    base_url: str,
    auth: dict[str, Any],
    resources: Sequence[ResourceRow],
    session: Session,
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
                    "paginator": endpoint_paginator(row),
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
    ) -> list[DltResource]:
        config = rest_api_config(
            base_url=base_url,
            auth={**auth, key_field: api_key},
            resources=resources,
            session=retrying_session(max_attempts=max_attempts, backoff_factor=backoff_factor),
        )
        return rest_api_resources(config)

    source.__doc__ = f"All {len(resources)} {name} resources, merged on ``id``."
    return source
