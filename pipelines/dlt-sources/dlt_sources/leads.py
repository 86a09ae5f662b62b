"""Leads API as a dlt rest_api source: seed document 003 (``003_3e3a6764b9a5ff22.txt``).

Deviations from the document's configuration (also in pipelines/dlt-sources/README.md):

1. leads, prospecting_lists: ``"type": "offset_by_received"`` instead of ``"offset"`` (see crm.py,
   deviation 1), ``"total_path": None`` (no total in the responses) and ``"limit_param": "limit"``
   written out (dlt's default, unchanged on the wire).
2. The other 12 resources have no paginator in the document: they say ``single_page``.
3. ``response_actions`` check every 2xx body for the ``data`` key and fail loudly without it.
4. Own session: exactly 429/500/502/503/504 retried, 4 attempts, backoff factor 2, Retry-After
   honoured. This document lists the statuses but no count or factor; the project README applies
   the other documents' "3 retries, factor 2" to all three.
5. The key comes from ``sources.leads.api_key`` (env ``SOURCES__LEADS__API_KEY``); the base URL,
   ``/v2`` included, is configurable (``sources.leads.base_url``).
"""

from __future__ import annotations

from dlt_sources._rest import ResourceRow, api_source

DOCUMENT = "003_3e3a6764b9a5ff22.txt"
DEFAULT_BASE_URL = "https://api.example.com/v2"

# Document: {"type": "api_key", "name": "X-API-KEY", "api_key": <secret>, "location": "header"}.
AUTH = {"type": "api_key", "name": "X-API-KEY", "location": "header"}


def _page(name: str, path: str, page_size: int) -> ResourceRow:
    return ResourceRow(name, path, "data", page_size=page_size, offset_param="offset", size_param="limit")


def _single(name: str, path: str) -> ResourceRow:
    return ResourceRow(name, path, "data")


# The resource table, in the document's order. Paths are relative to the /v2 base URL.
RESOURCES: tuple[ResourceRow, ...] = (
    _single("steps", "/steps"),
    _single("pipelines", "/pipelines"),
    _single("clients_folders", "/clients"),
    _single("categories", "/categories"),
    _single("predefined_tags", "/predefined_tags"),
    _single("fields", "/fields"),
    _page("leads", "/leads", 100),
    _single("follow_ups", "/follow_ups"),
    _single("users", "/users"),
    _single("teams", "/teams"),
    _single("webhooks", "/webhooks"),
    _single("webhook_events", "/webhook_events"),
    _single("activities", "/activities"),
    _page("prospecting_lists", "/spreadsheets", 100),
)


leads_source = api_source("leads", DEFAULT_BASE_URL, AUTH, "api_key", RESOURCES)
