"""The dlt variant: the three seed documents as dlt ``rest_api_source`` configurations.

``python -m dlt_sources <crm|projects|leads>`` loads one API; see dlt_sources/README.md.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from dlt.sources import DltSource

from dlt_sources import crm, leads, projects
from dlt_sources._rest import (
    BACKOFF_FACTOR,
    MAX_ATTEMPTS,
    RETRY_STATUSES,
    EnvelopeError,
    OffsetIgnoredError,
    ReceivedCountOffsetPaginator,
    ResourceRow,
)
from dlt_sources.crm import crm_source
from dlt_sources.leads import leads_source
from dlt_sources.projects import projects_source

# API name -> module holding DOCUMENT, DEFAULT_BASE_URL, AUTH, RESOURCES and the source function.
MODULES: dict[str, ModuleType] = {"crm": crm, "projects": projects, "leads": leads}
SOURCES: dict[str, Callable[..., DltSource]] = {
    "crm": crm_source,
    "projects": projects_source,
    "leads": leads_source,
}

__all__ = [
    "BACKOFF_FACTOR",
    "MAX_ATTEMPTS",
    "MODULES",
    "RETRY_STATUSES",
    "SOURCES",
    "EnvelopeError",
    "OffsetIgnoredError",
    "ReceivedCountOffsetPaginator",
    "ResourceRow",
    "crm_source",
    "leads_source",
    "projects_source",
]
