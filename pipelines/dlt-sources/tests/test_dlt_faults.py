"""The dlt variant against a misbehaving sandbox, over real HTTP: clamped page sizes, wrong
envelopes, retryable and non-retryable statuses, Retry-After. Waits are kept small by passing a
small backoff factor; one test keeps the documents' factor 2 to show it is really in effect."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from requests import HTTPError

import api_sandbox
from api_sandbox import Fault
from dlt_sources import SOURCES, EnvelopeError
from dlt_sources.__main__ import describe_error, exception_chain
from dlt_sources._http import retrying_session
from dlt_sources._rest import rest_api_config
from dlt_sources.crm import AUTH as CRM_AUTH
from dlt_sources.crm import RESOURCES as CRM_RESOURCES
from dlt_sources.testing import FAST, SANDBOX_KEY, extract

KEY = SANDBOX_KEY


def api_requests(sb: Any, path: str) -> list[dict[str, Any]]:
    return [r for r in sb.request_log() if r["path"] == path]


def gaps(requests: list[dict[str, Any]]) -> list[float]:
    """Seconds between consecutive requests, by the server's clock."""
    return [b["time"] - a["time"] for a, b in itertools.pairwise(requests)]


# --------------------------------------------------------------------------------------------------
# a server that clamps page sizes
# --------------------------------------------------------------------------------------------------


def test_clamped_pages_lose_nothing() -> None:
    # projects asks for 1000 (jobs, contacts, activities, files) and 100 (tasks); the server gives 40.
    with api_sandbox.run_sandbox("projects", records=250, max_page_size=40) as sb:
        ids = extract("projects", sb.base_url)
        for name, got in ids.items():
            assert got == sb.truth(name), f"{name}: records lost or duplicated under a clamp"
        offsets = [int(r["query"]["from"]) for r in api_requests(sb, "/v1/tasks")]
        # advanced by what arrived (40, less the last record, read again), not by what was asked (100);
        # stopped on the page holding only that record
        assert offsets == [0, 39, 78, 117, 156, 195, 234, 249]


def test_clamp_per_resource_crm() -> None:
    with api_sandbox.run_sandbox("crm", records=95, max_page_size={"tasks": 7, "accounts": 3}) as sb:
        ids = extract("crm", sb.base_url, "tasks", "accounts", "users")
        for name, got in ids.items():
            assert got == sb.truth(name), name
        assert {r["query"]["limit"] for r in api_requests(sb, "/v1/tasks")} == {"20"}  # asked as documented


def test_stock_dlt_offset_paginator_would_lose_records() -> None:
    """Why deviation 1 exists: dlt's own OffsetPaginator, as the document configures it (plus the
    total_path fix), advances by the page size asked for and silently skips clamped records."""
    from dlt.sources.rest_api import rest_api_resources

    with api_sandbox.run_sandbox("crm", records=100, max_page_size=7) as sb:
        row = next(r for r in CRM_RESOURCES if r.name == "tasks")
        config: Any = rest_api_config(
            base_url=sb.base_url,
            auth={**CRM_AUTH, "api_key": KEY},
            resources=[row],
            session=retrying_session(backoff_factor=FAST),
        )
        config["resources"][0]["endpoint"]["paginator"]["type"] = "offset"  # stock dlt
        (resource,) = rest_api_resources(config)
        stock = [record["id"] for record in resource]
        assert len(stock) == 35  # 5 pages of 7 out of 100: 65 records lost without a word
        assert len(extract("crm", sb.base_url, "tasks")["tasks"]) == 100  # ours


# --------------------------------------------------------------------------------------------------
# wrong envelopes
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "resource", "path", "variant"),
    [
        ("crm", "tasks", "/v1/tasks", "items"),  # paginated, {"items": [...]}
        ("crm", "persons", "/v1/persons", "error"),  # single page, {"error": "..."}
        ("projects", "activities", "/v1/activities", "items"),  # selector "activity"
        ("leads", "leads", "/v2/leads", "items"),
    ],
)
def test_missing_selector_fails_loudly(api: str, resource: str, path: str, variant: str) -> None:
    with api_sandbox.run_sandbox(api, records=30) as sb:
        sb.add_fault(Fault(kind="no_selector", path=path, count=1, variant=variant))
        with pytest.raises(Exception) as caught:
            extract(api, sb.base_url, resource)
        line = describe_error(caught.value, api)
        assert f"resource {resource!r}" in line
        assert f"{sb.base_url}{path.removeprefix('/v2')}" in line  # the URL, query string included
        assert "refusing to load zero rows" in line
        assert any(isinstance(e, EnvelopeError) for e in exception_chain(caught.value))
        assert len(api_requests(sb, path)) == 1  # not retried: a wrong envelope is not transient


def test_missing_selector_midway_fails_too() -> None:
    """A wrong envelope on page 3 must not end the resource quietly with two pages loaded."""
    with api_sandbox.run_sandbox("crm", records=100) as sb:
        sb.add_fault(Fault(kind="no_selector", path="/v1/tasks", on_requests=[3]))
        with pytest.raises(Exception) as caught:
            extract("crm", sb.base_url, "tasks")
        assert "offset=38" in describe_error(caught.value, "crm")  # pages of 20, each from the last record


# --------------------------------------------------------------------------------------------------
# retries: exactly 429/500/502/503/504, 4 attempts, Retry-After honoured
# --------------------------------------------------------------------------------------------------


def test_three_503s_then_success_nothing_lost() -> None:
    with api_sandbox.run_sandbox("crm", records=50) as sb:
        sb.add_fault(Fault(status=503, path="/v1/tasks", count=3))
        ids = extract("crm", sb.base_url, "tasks")
        assert ids["tasks"] == sb.truth("tasks")
        statuses = [r["status"] for r in api_requests(sb, "/v1/tasks")]
        assert statuses == [503, 503, 503, 200, 200, 200, 200]  # 3 retries, then 3 pages + empty page


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_every_documented_status_is_retried(status: int) -> None:
    with api_sandbox.run_sandbox("leads", records=10) as sb:
        sb.add_fault(Fault(status=status, path="/v2/steps", count=1))
        ids = extract("leads", sb.base_url, "steps")
        assert ids["steps"] == sb.truth("steps")
        assert [r["status"] for r in api_requests(sb, "/v2/steps")] == [status, 200]


def test_fourth_503_fails_clearly() -> None:
    with api_sandbox.run_sandbox("crm", records=50) as sb:
        sb.add_fault(Fault(status=503, path="/v1/tasks", count=4))
        with pytest.raises(Exception) as caught:
            extract("crm", sb.base_url, "tasks")
        assert [r["status"] for r in api_requests(sb, "/v1/tasks")] == [503] * 4  # 4 attempts, no 5th
        line = describe_error(caught.value, "crm")
        assert line.startswith("error: resource 'tasks': HTTP 503 from ")
        assert "after all retries" in line and "\n" not in line


@pytest.mark.parametrize("status", [501, 505, 400, 404])
def test_other_statuses_are_not_retried(status: int) -> None:
    # dlt alone retries every 5xx; the documents list only 429, 500, 502, 503, 504.
    with api_sandbox.run_sandbox("crm", records=10) as sb:
        sb.add_fault(Fault(status=status, path="/v1/persons", count=1))
        with pytest.raises(Exception) as caught:
            extract("crm", sb.base_url, "persons")
        assert len(api_requests(sb, "/v1/persons")) == 1
        http = [e for e in exception_chain(caught.value) if isinstance(e, HTTPError)]
        assert http and http[0].response.status_code == status
        assert "(not retried)" in describe_error(caught.value, "crm")


def test_429_retry_after_is_honoured() -> None:
    with api_sandbox.run_sandbox("crm", records=30) as sb:
        sb.add_fault(Fault(status=429, retry_after="1", path="/v1/tasks", count=1))
        ids = extract("crm", sb.base_url, "tasks", backoff_factor=0.01)  # backoff alone: 0.01 s
        assert ids["tasks"] == sb.truth("tasks")
        requests = api_requests(sb, "/v1/tasks")
    assert [r["status"] for r in requests] == [429, 200, 200, 200]
    assert 1.0 <= gaps(requests)[0] < 4.0, "Retry-After: 1 was not honoured"


def test_503s_and_429_together_nothing_lost() -> None:
    """The issue's scenario in one run: three consecutive 503s on one resource and a 429 with
    Retry-After on another, on the same source run."""
    with api_sandbox.run_sandbox("crm", records=60) as sb:
        sb.add_fault(Fault(status=503, path="/v1/tasks", count=3))
        sb.add_fault(Fault(status=429, retry_after="1", path="/v1/contacts", on_requests=[2]))
        ids = extract("crm", sb.base_url, "tasks", "contacts", "persons")
        for name, got in ids.items():
            assert got == sb.truth(name), name
        tasks, contacts = api_requests(sb, "/v1/tasks"), api_requests(sb, "/v1/contacts")
    # 60 records in pages of 20, each from the last record of the page before: 0, 19, 38, 57, 59
    assert [r["status"] for r in tasks] == [503, 503, 503, 200, 200, 200, 200, 200]  # both faults fired
    assert [r["status"] for r in contacts] == [200, 429, 200, 200, 200, 200]
    assert gaps(contacts)[1] >= 1.0  # the 429's Retry-After: 1


def test_default_backoff_factor_2_is_in_effect() -> None:
    """One 503 with the documents' factor 2 (no override): the single retry waits 2 s."""
    with api_sandbox.run_sandbox("crm", records=5) as sb:
        sb.add_fault(Fault(status=503, path="/v1/persons", count=1))
        source = SOURCES["crm"](api_key=KEY, base_url=sb.base_url)  # defaults: 4 attempts, factor 2
        got = [r["id"] for r in source.with_resources("persons").resources["persons"]]
        assert got == sb.truth("persons")
        requests = api_requests(sb, "/v1/persons")
    assert [r["status"] for r in requests] == [503, 200]
    assert 2.0 <= gaps(requests)[0] < 4.0
