"""The dlt variant: the three seed documents as dlt ``rest_api_source`` configurations.

``python -m dlt_sources <crm|projects|leads>`` loads one API; see pipelines/dlt-sources/README.md.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from dlt.sources import DltSource

from dlt_sources import crm, leads, projects
from dlt_sources._errors import (
    DeadlineExceeded,
    EndlessListingError,
    EnvelopeError,
    ListingShiftedError,
    RedirectRefusedError,
    SettingError,
    SourceError,
)
from dlt_sources._http import BACKOFF_FACTOR, MAX_ATTEMPTS, REQUEST_TIMEOUT, RETRY_STATUSES, retrying_session
from dlt_sources._paging import ReceivedCountOffsetPaginator
from dlt_sources._rest import (
    PRIMARY_KEY,
    RECEIVED_OFFSET,
    ResourceRow,
    endpoint_paginator,
    rest_api_config,
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
    "PRIMARY_KEY",
    "RECEIVED_OFFSET",
    "REQUEST_TIMEOUT",
    "RETRY_STATUSES",
    "SOURCES",
    "DeadlineExceeded",
    "EndlessListingError",
    "EnvelopeError",
    "ListingShiftedError",
    "ReceivedCountOffsetPaginator",
    "RedirectRefusedError",
    "ResourceRow",
    "SettingError",
    "SourceError",
    "crm_source",
    "endpoint_paginator",
    "leads_source",
    "projects_source",
    "rest_api_config",
    "retrying_session",
]
