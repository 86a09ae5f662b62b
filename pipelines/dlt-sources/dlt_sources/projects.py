"""Projects / jobs API as a dlt rest_api source: seed document 001 (``001_a74db3998dae5ada.txt``).

Deviations from the document's configuration (also in pipelines/dlt-sources/README.md):

1. ``"type": "offset_by_received"`` instead of ``"offset"`` (see crm.py, deviation 1): the offset
   advances by the records received, each page re-read from the last record of the page before, and
   paging stops on a page of that record alone.
2. ``"total_path": None`` on every paginator (no total in the responses).
3. tasks, activities, files: the document's ``"size_param": "size"`` is written
   ``"limit_param": "size"``; dlt 1.31's offset paginator has no ``size_param`` and raises on it.
4. jobs, contacts: the document names no page-size parameter, so dlt sends its default
   ``limit=1000``; that is kept on purpose and written out as ``"limit_param": "limit"``. If the API
   ignores ``limit`` it serves its own page size, and deviation 1 keeps that loss-free.
5. ``response_actions`` check every 2xx body for the resource's selector (``results``, ``activity``,
   ``files``) and fail loudly without it.
6. Own session: exactly 429/500/502/503/504 retried, 4 attempts, backoff factor 2, Retry-After honoured.
7. The token comes from ``sources.projects.api_key`` (env ``SOURCES__PROJECTS__API_KEY``); the base
   URL is configurable (``sources.projects.base_url``).
"""

from __future__ import annotations

from dlt_sources._rest import ResourceRow, api_source

DOCUMENT = "001_a74db3998dae5ada.txt"
DEFAULT_BASE_URL = "https://api.example.com"

# Document: {"type": "bearer", "token": <secret>} -> "Authorization: Bearer <key>".
AUTH = {"type": "bearer"}


def _page(name: str, path: str, selector: str, page_size: int, size_param: str) -> ResourceRow:
    return ResourceRow(name, path, selector, page_size=page_size, offset_param="from", size_param=size_param)


# The resource table, in the document's order. offset_param is "from" throughout.
RESOURCES: tuple[ResourceRow, ...] = (
    # No size_param in the document: dlt's default "limit" is what goes on the wire.
    _page("jobs", "/v1/jobs", "results", 1000, "limit"),
    _page("contacts", "/v1/contacts", "results", 1000, "limit"),
    # The document's "size_param": "size", which dlt calls limit_param.
    _page("tasks", "/v1/tasks", "results", 100, "size"),
    _page("activities", "/v1/activities", "activity", 1000, "size"),
    _page("files", "/v1/files", "files", 1000, "size"),
)


projects_source = api_source("projects", DEFAULT_BASE_URL, AUTH, "token", RESOURCES)
