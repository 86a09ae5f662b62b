from __future__ import annotations

from typing import Any

import requests

from api_sandbox import Sandbox

KEY = "sandbox-key"


def auth_headers(api: str, key: str = KEY) -> dict[str, str]:
    if api == "crm":
        return {"Authorization": key}
    if api == "projects":
        return {"Authorization": f"Bearer {key}"}
    return {"X-API-KEY": key}


def get(sb: Sandbox, path: str, params: dict[str, Any] | None = None, **kw: Any) -> requests.Response:
    """GET a served path (e.g. "/v1/tasks", "/v2/clients") with the right auth for the sandbox's API."""
    headers = kw.pop("headers", None)
    if headers is None:
        headers = auth_headers(sb.api)
    kw.setdefault("timeout", 10)
    return requests.get(sb.root_url + path, params=params, headers=headers, **kw)


def ids(resp: requests.Response, selector: str) -> list[Any]:
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()[selector]]
