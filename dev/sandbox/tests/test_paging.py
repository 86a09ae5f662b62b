"""Offset pagination per resource, exactly as each document names its parameters."""

from __future__ import annotations

import pytest
import requests
from sandbox_testlib import get, ids

from api_sandbox import run_sandbox

EXPECTED = {
    "crm": {
        "tasks": ("/v1/tasks", "data", "offset", "limit", 20),
        "accounts": ("/v1/accounts", "data", "offset", "limit", 10),
        "contacts": ("/v1/contacts", "data", "offset", "limit", 20),
        "opportunities": ("/v1/opportunities", "data", "offset", "limit", 20),
        "workflows": ("/v1/workflows", "data", "offset", "limit", 20),
        "tags": ("/v1/tags", "data", "offset", "limit", 20),
        "users": ("/v1/users", "data", "offset", "limit", 20),
        "persons": ("/v1/persons", "data", None, None, None),
        "email_data_sources": ("/v1/datasources/email", "data", None, None, None),
        "custom_field_types": ("/v1/customfields/types", "data", None, None, None),
        "pipelines": ("/v1/pipelines", "data", None, None, None),
    },
    "projects": {
        "jobs": ("/v1/jobs", "results", "from", "limit", 1000),
        "contacts": ("/v1/contacts", "results", "from", "limit", 1000),
        "tasks": ("/v1/tasks", "results", "from", "size", 100),
        "activities": ("/v1/activities", "activity", "from", "size", 1000),
        "files": ("/v1/files", "files", "from", "size", 1000),
    },
    "leads": {
        "steps": ("/v2/steps", "data", None, None, None),
        "pipelines": ("/v2/pipelines", "data", None, None, None),
        "clients_folders": ("/v2/clients", "data", None, None, None),
        "categories": ("/v2/categories", "data", None, None, None),
        "predefined_tags": ("/v2/predefined_tags", "data", None, None, None),
        "fields": ("/v2/fields", "data", None, None, None),
        "leads": ("/v2/leads", "data", "offset", "limit", 100),
        "follow_ups": ("/v2/follow_ups", "data", None, None, None),
        "users": ("/v2/users", "data", None, None, None),
        "teams": ("/v2/teams", "data", None, None, None),
        "webhooks": ("/v2/webhooks", "data", None, None, None),
        "webhook_events": ("/v2/webhook_events", "data", None, None, None),
        "activities": ("/v2/activities", "data", None, None, None),
        "prospecting_lists": ("/v2/spreadsheets", "data", "offset", "limit", 100),
    },
}


@pytest.mark.parametrize("api", sorted(EXPECTED))
def test_resource_table_matches_documents(api: str) -> None:
    with run_sandbox(api) as sb:
        got = {s.name: (s.path, s.selector, s.offset_param, s.size_param, s.page_size) for s in sb.resources}
        assert got == EXPECTED[api]
        for s in sb.resources:
            assert s.paginated == (s.offset_param is not None)
            assert s.max_page_size == (1000 if s.paginated else None)
        base = {"crm": sb.root_url, "projects": sb.root_url, "leads": sb.root_url + "/v2"}[api]
        assert sb.base_url == base


@pytest.mark.parametrize("api", sorted(EXPECTED))
def test_every_paginated_resource_pages_through_all_ids(api: str) -> None:
    with run_sandbox(api, records=95) as sb:
        for spec in sb.resources:
            if not spec.paginated:
                continue
            assert spec.offset_param and spec.size_param
            seen = []
            offset = 0
            while True:
                page = ids(
                    get(sb, spec.path, {spec.offset_param: offset, spec.size_param: 30}), spec.selector
                )
                if not page:
                    break
                assert len(page) <= 30
                seen += page
                offset += len(page)
            assert seen == sb.truth(spec.name)
            assert len(seen) == 95 and seen == sorted(seen)
            assert len(set(seen)) == 95


def test_default_page_size_is_50_and_unknown_params_ignored() -> None:
    with run_sandbox("crm") as sb:
        assert len(ids(get(sb, "/v1/tasks"), "data")) == 50
        assert len(ids(get(sb, "/v1/tasks", {"foo": "bar", "page": 3}), "data")) == 50


def test_projects_size_param_per_resource() -> None:
    with run_sandbox("projects") as sb:
        # jobs/contacts read `limit`; `size` is an unknown parameter there
        assert len(ids(get(sb, "/v1/jobs", {"limit": 7}), "results")) == 7
        assert len(ids(get(sb, "/v1/jobs", {"size": 7}), "results")) == 50
        assert len(ids(get(sb, "/v1/contacts", {"limit": 3, "from": 1}), "results")) == 3
        # tasks/activities/files read `size`; `limit` is ignored
        assert len(ids(get(sb, "/v1/tasks", {"size": 7}), "results")) == 7
        assert len(ids(get(sb, "/v1/tasks", {"limit": 7}), "results")) == 50
        assert len(ids(get(sb, "/v1/activities", {"size": 9}), "activity")) == 9
        assert len(ids(get(sb, "/v1/files", {"size": 11}), "files")) == 11
        # offset param is `from`; `offset` is ignored
        truth = sb.truth("tasks")
        assert ids(get(sb, "/v1/tasks", {"from": 5, "size": 2}), "results") == truth[5:7]
        assert ids(get(sb, "/v1/tasks", {"offset": 5, "size": 2}), "results") == truth[0:2]


def test_offset_and_empty_page_past_end() -> None:
    with run_sandbox("leads", records=120) as sb:
        truth = sb.truth("leads")
        assert all(isinstance(i, str) for i in truth) and truth == sorted(truth)
        assert ids(get(sb, "/v2/leads", {"offset": 100, "limit": 100}), "data") == truth[100:]
        r = get(sb, "/v2/leads", {"offset": 120, "limit": 100})
        assert r.status_code == 200 and r.json() == {"data": []}
        r = get(sb, "/v2/leads", {"offset": 10_000, "limit": 5})
        assert r.status_code == 200 and r.json() == {"data": []}


def test_clamping_default_global_and_per_resource() -> None:
    with run_sandbox("crm", records=1500) as sb:
        assert len(ids(get(sb, "/v1/tasks", {"limit": 5000}), "data")) == 1000
    with run_sandbox("crm", records=300, max_page_size=25) as sb:
        assert len(ids(get(sb, "/v1/tasks", {"limit": 100}), "data")) == 25
        assert len(ids(get(sb, "/v1/users", {"limit": 100}), "data")) == 25
        assert all(s.max_page_size == 25 for s in sb.resources if s.paginated)
    with run_sandbox("projects", records=300, max_page_size={"jobs": 13}) as sb:
        assert sb.resource("jobs").max_page_size == 13
        assert len(ids(get(sb, "/v1/jobs", {"limit": 100}), "results")) == 13
        assert len(ids(get(sb, "/v1/tasks", {"size": 100}), "results")) == 100
        # a client that advances by what arrived still gets everything
        seen, offset = [], 0
        while page := ids(get(sb, "/v1/jobs", {"from": offset, "limit": 100}), "results"):
            seen += page
            offset += len(page)
        assert seen == sb.truth("jobs")


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", " 3"])
def test_invalid_paging_values_are_400(value: str) -> None:
    with run_sandbox("crm") as sb:
        for params in ({"offset": value}, {"limit": value}):
            r = get(sb, "/v1/tasks", params)
            assert r.status_code == 400, (params, r.text)
            assert r.json()["error"] == "bad_request"
        assert get(sb, "/v1/tasks", {"limit": "0"}).status_code == 400


def test_non_paginated_resources_return_everything_and_ignore_paging() -> None:
    for api in ("crm", "leads"):
        with run_sandbox(api, records=10) as sb:
            counts = set()
            for spec in sb.resources:
                if spec.paginated:
                    continue
                truth = sb.truth(spec.name)
                assert 7 <= len(truth) <= 25
                counts.add(len(truth))
                assert ids(get(sb, spec.path), spec.selector) == truth
                assert ids(get(sb, spec.path, {"offset": 3, "limit": 2}), spec.selector) == truth
                assert ids(get(sb, spec.path, {"offset": -1, "limit": "x"}), spec.selector) == truth
            assert len(counts) > 1  # varies per resource


def test_records_count_and_other_methods_405() -> None:
    with run_sandbox("crm", records=42) as sb:
        assert len(sb.truth("tasks")) == 42
        assert sb.truth("tasks") == list(range(10, 430, 10))
        for method in ("post", "put", "patch", "delete"):
            r = requests.request(method, sb.root_url + "/v1/tasks", headers={"Authorization": "sandbox-key"})
            assert r.status_code == 405 and r.headers["Allow"] == "GET"
        assert get(sb, "/v1/nope").status_code == 404
        assert get(sb, "/v1/nope").json()["error"] == "not_found"


def test_keep_alive_session() -> None:
    with run_sandbox("crm") as sb, requests.Session() as session:
        for _ in range(20):
            r = session.get(sb.base_url + "/v1/tasks", headers={"Authorization": "sandbox-key"})
            assert r.status_code == 200
            assert int(r.headers["Content-Length"]) == len(r.content)
        assert sb.stats()["/v1/tasks"] == {"requests": 20, "statuses": {"200": 20}}
