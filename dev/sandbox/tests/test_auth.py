"""Auth exactly per document: raw key (CRM), Bearer (projects), X-API-KEY (leads)."""

from __future__ import annotations

import pytest
import requests
from sandbox_testlib import get

from api_sandbox import run_sandbox

CASES = {
    "crm": (
        "/v1/tasks",
        [{"Authorization": "k1"}],
        [{"Authorization": "Bearer k1"}, {"Authorization": "k2"}, {"X-API-KEY": "k1"}, {}],
    ),
    "projects": (
        "/v1/jobs",
        [{"Authorization": "Bearer k1"}, {"Authorization": "bearer k1"}],
        [{"Authorization": "k1"}, {"Authorization": "Bearer k2"}, {"Authorization": "Basic k1"}, {}],
    ),
    "leads": (
        "/v2/leads",
        [{"X-API-KEY": "k1"}, {"x-api-key": "k1"}],
        [{"Authorization": "k1"}, {"X-API-KEY": "k2"}, {"Authorization": "Bearer k1"}, {}],
    ),
}


@pytest.mark.parametrize("api", sorted(CASES))
def test_auth(api: str) -> None:
    path, good, bad = CASES[api]
    with run_sandbox(api, api_key="k1") as sb:
        for headers in good:
            assert get(sb, path, headers=headers).status_code == 200, headers
        for headers in bad:
            r = get(sb, path, headers=headers)
            assert r.status_code == 401, headers
            body = r.json()
            assert body["error"] == "unauthorized" and body["message"]
        # non-paginated resources need auth too
        other = (
            next(s for s in sb.resources if not s.paginated) if api != "projects" else sb.resource("files")
        )
        assert get(sb, other.path, headers={}).status_code == 401
        log = sb.request_log()
        assert [e["auth_ok"] for e in log[: len(good) + len(bad)]] == [True] * len(good) + [False] * len(bad)
        # the request log never carries key values
        assert "k1" not in repr(log) and "k2" not in repr(log)
        # openapi and control endpoints need no auth
        assert requests.get(sb.base_url + "/openapi.json", timeout=5).status_code == 200
        assert requests.get(sb.root_url + "/_sandbox/stats", timeout=5).status_code == 200


def test_default_key() -> None:
    with run_sandbox("crm") as sb:
        assert get(sb, "/v1/tasks", headers={"Authorization": "sandbox-key"}).status_code == 200
