"""https with a throwaway CA (trustme), and the forwarding proxy for plain http and CONNECT tunnels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from sandbox_testlib import auth_headers

from api_sandbox import Sandbox, run_sandbox
from api_sandbox.launcher import SandboxProcess, SandboxStartError
from api_sandbox.proxy import run_proxy


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(CA bundle, server certificate chain, server key) as PEM files."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    ca_path, chain_path, key_path = folder / "ca.pem", folder / "chain.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    chain_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    yield str(ca_path), str(chain_path), str(key_path)


def sync(session: requests.Session, sb_base: str, api: str, path: str, **kw: Any) -> list[object]:
    """Page through a leads-style resource the way a tap does; every id in served order."""
    seen: list[object] = []
    offset = 0
    while True:
        r = session.get(
            sb_base + path, params={"offset": offset, "limit": 7}, headers=auth_headers(api), timeout=10, **kw
        )
        assert r.status_code == 200, r.text
        page = [rec["id"] for rec in r.json()["data"]]
        if not page:
            return seen
        seen += page
        offset += len(page)


def test_https_sandbox_trusted_through_verify(tls_files: tuple[str, str, str]) -> None:
    ca, chain, key = tls_files
    with run_sandbox("leads", records=30, tls=(chain, key)) as sb, requests.Session() as s:
        assert sb.base_url.startswith("https://127.0.0.1:") and sb.root_url.startswith("https://")
        s.trust_env = False
        assert sync(s, sb.base_url, "leads", "/leads", verify=ca) == sb.truth("leads")
        assert sb.openapi()["servers"] == [{"url": sb.base_url}]
        # without the CA the certificate is refused
        with pytest.raises(requests.exceptions.SSLError):
            s.get(sb.base_url + "/leads", headers=auth_headers("leads"), timeout=10)
        # plain http to the https port gets nothing served
        with pytest.raises(requests.exceptions.ConnectionError):
            s.get(sb.base_url.replace("https", "http") + "/leads", timeout=10)
        assert [e["path"] for e in sb.request_log()].count(
            "/v2/leads"
        ) == 6  # 30 records in pages of 7, then the empty page


def test_https_from_the_command_line(tls_files: tuple[str, str, str]) -> None:
    ca, chain, key = tls_files
    with SandboxProcess("crm", records=12, tls=(chain, key)) as sb:
        assert sb.base_url.startswith("https://127.0.0.1:")
        r = requests.get(sb.base_url + "/v1/tasks", headers=auth_headers("crm"), verify=ca, timeout=10)
        assert r.status_code == 200 and len(r.json()["data"]) == 12
        assert sb.truth("tasks") == [rec["id"] for rec in r.json()["data"]]


def test_tls_needs_both_files(tls_files: tuple[str, str, str]) -> None:
    _, chain, _ = tls_files
    with pytest.raises(SandboxStartError, match="did not start"):
        SandboxProcess("crm", tls=(chain, str(Path(chain).with_name("missing.pem"))))
    with pytest.raises(FileNotFoundError):
        Sandbox("crm", tls=(chain, str(Path(chain).with_name("missing.pem")))).start()


def test_proxy_forwards_plain_http_and_logs_it() -> None:
    with run_sandbox("crm", records=30) as sb, run_proxy() as proxy, requests.Session() as s:
        s.trust_env = False
        proxies = {"http": proxy.url, "https": proxy.url}
        r = s.get(
            sb.base_url + "/v1/tasks", params={"limit": 5}, headers=auth_headers("crm"), proxies=proxies
        )
        assert r.status_code == 200 and [rec["id"] for rec in r.json()["data"]] == sb.truth("tasks")[:5]
        r = s.get(sb.base_url + "/v1/tasks", headers={}, proxies=proxies)
        assert r.status_code == 401  # statuses and bodies pass through
        target = f"127.0.0.1:{sb.port}"
        assert proxy.log() == [
            {"method": "GET", "target": target, "url": sb.base_url + "/v1/tasks?limit=5"},
            {"method": "GET", "target": target, "url": sb.base_url + "/v1/tasks"},
        ]
        assert [e["credentials"] for e in sb.request_log()] == [["Authorization"], []]
        # loopback only: the test proxy never reaches out
        r = s.get("http://example.invalid/x", proxies=proxies, timeout=10)
        assert r.status_code == 403 and proxy.log()[-1]["target"] == "example.invalid:80"


def test_proxy_tunnels_https_with_connect(tls_files: tuple[str, str, str]) -> None:
    ca, chain, key = tls_files
    with (
        run_sandbox("leads", records=20, tls=(chain, key)) as sb,
        run_proxy() as proxy,
        requests.Session() as s,
    ):
        s.trust_env = False
        ids = sync(s, sb.base_url, "leads", "/spreadsheets", verify=ca, proxies={"https": proxy.url})
        assert ids == sb.truth("prospecting_lists")
        log = proxy.log()
        assert log and {e["method"] for e in log} == {"CONNECT"}
        assert {e["target"] for e in log} == {f"127.0.0.1:{sb.port}"}
        assert len(sb.request_log()) == 4  # 20 records in pages of 7, then the empty page
