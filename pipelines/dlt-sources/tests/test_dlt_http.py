"""Issue 11 for the dlt variant, over real HTTP: the key never leaves the API's origin (a redirect to
another host, port or scheme is refused with one line naming the resource and both URLs; within the
origin it is followed, key included), for each auth style; every response has a total deadline, retried
like a read timeout, and a stalled resource ends with a clear error in bounded time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import trustme

from api_sandbox import run_sandbox
from dlt_sources import RedirectRefusedError
from dlt_sources.__main__ import describe_error, exception_chain
from dlt_sources.testing import extract, run_cli

# api -> (a paginated resource, its served path, the header its key travels in)
APIS = {
    "crm": ("tasks", "/v1/tasks", "Authorization"),  # the raw key
    "projects": ("jobs", "/v1/jobs", "Authorization"),  # Bearer
    "leads": ("leads", "/v2/leads", "X-API-KEY"),
}


def requests_to(sb: Any, path: str) -> list[dict[str, Any]]:
    return [r for r in sb.request_log() if r["path"].removeprefix("/_moved") == path]


def failure(api: str, base_url: str, resource: str, **kwargs: Any) -> tuple[BaseException, str]:
    with pytest.raises(Exception) as caught:
        extract(api, base_url, resource, **kwargs)
    return caught.value, describe_error(caught.value, api)


@pytest.mark.parametrize("api", sorted(APIS))
def test_a_redirect_to_another_host_is_refused(api: str) -> None:
    resource, path, _ = APIS[api]
    # The same server under another host name, the key in the URL as well: nothing may reach it.
    location = "http://localhost:{port}{path}?{query}&token={key_quoted}"
    with run_sandbox(api, records=30, faults=[f"redirect,status=307,path={path},location={location}"]) as sb:
        exc, line = failure(api, sb.base_url, resource)
        log = sb.request_log()
    port = sb.root_url.rsplit(":", 1)[1]
    first = f"{sb.base_url}{path.removeprefix('/v2')}"
    assert line.startswith(f"error: resource '{resource}': GET {first}?")
    assert f"HTTP 307 redirects to http://localhost:{port}{path}?" in line
    assert line.endswith(
        f"&token=***, outside the API's origin (http://127.0.0.1:{port}): refused, so the key does not "
        "leave it (if the API has moved, set base_url)"
    )
    assert any(isinstance(e, RedirectRefusedError) for e in exception_chain(exc))
    assert [r["host"] for r in log] == [f"127.0.0.1:{port}"]  # one request, none to localhost


def test_a_redirect_to_another_port_is_refused() -> None:
    with run_sandbox("leads", records=10) as other:
        location = f"{other.root_url}{{path}}?{{query}}"
        with run_sandbox("leads", records=10, faults=[f"redirect,path=/v2/steps,location={location}"]) as sb:
            _, line = failure("leads", sb.base_url, "steps")
        assert other.request_log() == []
    assert f"redirects to {other.root_url}/v2/steps" in line and "refused" in line


@pytest.mark.parametrize("api", sorted(APIS))
def test_a_redirect_within_the_origin_is_followed_with_the_key(api: str) -> None:
    resource, path, header = APIS[api]
    with run_sandbox(api, records=45, faults=[f"redirect,path={path},count=2"]) as sb:
        ids = extract(api, sb.base_url, resource)
        assert ids[resource] == sb.truth(resource)
        log = requests_to(sb, path)
    moved = [r for r in log if r["moved"]]
    assert [r["status"] for r in log if r["fault"] == "redirect"] == [302, 302]
    assert len(moved) == 2 and all(r["status"] == 200 and r["credentials"] == [header] for r in moved)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throwaway CA and a certificate for 127.0.0.1 it signed."""
    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": where / "ca.pem", "cert": where / "cert.pem", "key": where / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    return {name: str(path) for name, path in files.items()}


def test_an_https_to_http_downgrade_is_refused(
    tls_files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files["ca"])
    location = "http://{host}:{port}{path}?{query}"  # same host and port, plain http
    tls = (tls_files["cert"], tls_files["key"])
    faults = [f"redirect,path=/v1/tasks,location={location}"]
    with run_sandbox("crm", records=30, tls=tls, faults=faults) as sb:
        _, line = failure("crm", sb.base_url, "tasks")
        assert len(sb.request_log()) == 1
    port = sb.root_url.rsplit(":", 1)[1]
    assert f"redirects to http://127.0.0.1:{port}/v1/tasks" in line
    assert f"outside the API's origin (https://127.0.0.1:{port}): refused" in line


def test_a_trickling_response_is_cut_at_the_deadline_and_retried() -> None:
    # The first page comes a byte a second: it would take an hour; request_timeout 1.5 s ends it.
    with run_sandbox("crm", records=45, faults=["trickle,path=/v1/tasks,count=1"]) as sb:
        ids = extract("crm", sb.base_url, "tasks", request_timeout=1.5)
        assert ids["tasks"] == sb.truth("tasks")
        log = requests_to(sb, "/v1/tasks")
    assert [(r["fault"], r["query"]["offset"]) for r in log[:2]] == [("trickle", "0"), (None, "0")]
    assert 1.4 <= log[1]["time"] - log[0]["time"] < 5.0  # cut at the deadline, then retried at once


def test_a_stalled_resource_ends_after_the_retries_in_bounded_time() -> None:
    with run_sandbox("crm", records=10, faults=["trickle,path=/v1/persons"]) as sb:
        started = time.monotonic()
        _, line = failure("crm", sb.base_url, "persons", request_timeout=1)
        elapsed = time.monotonic() - started
        log = requests_to(sb, "/v1/persons")
    assert len(log) == 4  # the documents' 3 retries
    assert line == (
        f"error: resource 'persons': the response from {sb.base_url}/v1/persons took longer than "
        "request_timeout (1 s) from connect to last byte after all retries"
    )
    assert elapsed < 15  # 4 deadlines of 1 s and short backoffs, with a generous margin


def test_trickling_headers_are_cut_at_the_deadline_and_retried() -> None:
    # The status line and headers a byte every 0.3 s: each read is quick, the head takes a minute.
    with run_sandbox(
        "crm", records=45, faults=["trickle,path=/v1/tasks,count=1,delay=0.3,variant=head"]
    ) as sb:
        ids = extract("crm", sb.base_url, "tasks", request_timeout=1.5)
        assert ids["tasks"] == sb.truth("tasks")
        log = requests_to(sb, "/v1/tasks")
    assert [(r["fault"], r["query"]["offset"]) for r in log[:2]] == [("trickle", "0"), (None, "0")]
    assert 1.4 <= log[1]["time"] - log[0]["time"] < 5.0  # cut at the deadline, then retried at once


def test_the_deadline_is_a_setting_of_the_runner(tmp_path: Path) -> None:
    with run_sandbox("leads", records=10, faults=["trickle,path=/v2/teams"]) as sb:
        args = ["leads", "--base-url", sb.base_url, "--request-timeout", "0.5", "--max-attempts", "2"]
        args += ["--duckdb-file", str(tmp_path / "l.duckdb"), "--pipelines-dir", str(tmp_path / "p")]
        result = run_cli(*args, env={"SOURCES__LEADS__API_KEY": "sandbox-key"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: resource 'teams': the response from {sb.base_url}/teams took longer than "
        "request_timeout (0.5 s) from connect to last byte after all retries"
    )
