"""CRM API as a dlt rest_api source: seed document 000 (``000_a607debe7e04b809.txt``).

Deviations from the document's configuration (also in pipelines/dlt-sources/README.md):

1. Paginated resources use ``"type": "offset_by_received"`` (``ReceivedCountOffsetPaginator``, a
   subclass of dlt's OffsetPaginator) instead of ``"offset"``: the offset advances by the records
   received (each page re-read from the last record of the page before, which must come first) and
   paging stops on a page of that record alone, so a server that clamps ``limit`` loses nothing and one
   whose offsets count pages, or whose records move, stops the resource instead of skipping records.
2. ``"total_path": None`` on every paginator: the responses carry no total, and dlt's default
   ``"total"`` raises on the first page.
3. ``"limit_param": "limit"`` is written out; it is dlt's default, so nothing changes on the wire.
4. persons, email_data_sources, custom_field_types, pipelines have no paginator in the document:
   they say ``single_page`` (dlt would otherwise guess and log a fallback warning).
5. ``response_actions`` check every 2xx body for the ``data`` key and fail loudly without it.
6. The client carries its own session: retries exactly 429/500/502/503/504, 4 attempts (3 retries),
   backoff factor 2, Retry-After honoured (dlt alone retries every 5xx).
7. The key comes from ``sources.crm.api_key`` (env ``SOURCES__CRM__API_KEY``), not a top-level
   ``dlt.secrets["api_key"]``; the base URL is configurable (``sources.crm.base_url``).
"""

from __future__ import annotations

from dlt_sources._rest import ResourceRow, api_source

DOCUMENT = "000_a607debe7e04b809.txt"
DEFAULT_BASE_URL = "https://api.example.com"

# Document: {"type": "api_key", "name": "Authorization", "api_key": <secret>, "location": "header"}.
# The raw key goes in the Authorization header, no scheme prefix.
AUTH = {"type": "api_key", "name": "Authorization", "location": "header"}


def _page(name: str, path: str, page_size: int) -> ResourceRow:
    return ResourceRow(name, path, "data", page_size=page_size, offset_param="offset", size_param="limit")


def _single(name: str, path: str) -> ResourceRow:
    return ResourceRow(name, path, "data")


# The resource table, in the document's order.
RESOURCES: tuple[ResourceRow, ...] = (
    _page("tasks", "/v1/tasks", 20),
    _page("accounts", "/v1/accounts", 10),
    _page("contacts", "/v1/contacts", 20),
    _page("opportunities", "/v1/opportunities", 20),
    _page("workflows", "/v1/workflows", 20),
    _page("tags", "/v1/tags", 20),
    _single("persons", "/v1/persons"),
    _single("email_data_sources", "/v1/datasources/email"),
    _single("custom_field_types", "/v1/customfields/types"),
    _single("pipelines", "/v1/pipelines"),
    _page("users", "/v1/users", 20),
)


crm_source = api_source("crm", DEFAULT_BASE_URL, AUTH, "api_key", RESOURCES)
