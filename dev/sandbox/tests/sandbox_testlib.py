from __future__ import annotations

import http.client
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from api_sandbox import Sandbox

KEY = "sandbox-key"


def auth_headers(api: str, key: str = KEY) -> dict[str, str]:
    if api == "crm":
        return {"Authorization": key}
    if api == "projects":
        return {"Authorization": f"Bearer {key}"}
    return {"X-API-KEY": key}


def get(sb: Sandbox, path: str, params: Mapping[Any, Any] | None = None, **kw: Any) -> requests.Response:
    """GET a served path (e.g. "/v1/tasks", "/v2/clients") with the right auth for the sandbox's API."""
    headers = kw.pop("headers", None)
    if headers is None:
        headers = auth_headers(sb.api)
    kw.setdefault("timeout", 10)
    return requests.get(sb.root_url + path, params=params, headers=headers, **kw)


def ids(resp: requests.Response, selector: str) -> list[Any]:
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()[selector]]


def raw_get(
    sb: Sandbox, path: str, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    """GET with http.client: status, headers and the body bytes exactly as sent (no decoding)."""
    url = urlsplit(sb.root_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        conn.request("GET", path, headers=auth_headers(sb.api) if headers is None else headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()
