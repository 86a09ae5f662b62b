"""Issues 11 and 16 over real HTTP, for the three taps (one per auth style: raw Authorization, Bearer,
X-API-KEY): the key never leaves the API's origin and appears in no printed line in any form; no request
hangs; https through an internal CA and through a proxy, as the environment says."""

from __future__ import annotations

import time
from urllib.parse import quote, quote_plus

import pytest
import trustme
from taps import TAPS

from api_sandbox import run_sandbox
from api_sandbox.proxy import run_proxy
from tapkit.testing import run_tap, tap_config

ALL = sorted(TAPS)
KEY = "Sk+9/aZ=Qr-7_x~Lm0/+pW=="  # +, / and = as generated keys often hold


def key_pieces(text: str, size: int = 6) -> list[str]:
    """Six-character pieces of KEY, raw or URL-encoded (either hex case), found in ``text``."""
    forms = {KEY, quote(KEY, safe=""), quote_plus(KEY), quote(KEY, safe="").lower(), quote(KEY)}
    return sorted(
        {f[i : i + size] for f in forms for i in range(len(f) - size + 1) if f[i : i + size] in text}
    )


# -- redirects -------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ALL)
def test_a_redirect_to_another_host_is_refused_and_the_key_stays(api):
    t = TAPS[api]
    fault = f"redirect,status=302,path={t.paged_path},location=http://localhost:{{port}}{{path}}?{{query}}"
    with run_sandbox(api, records=30, api_key=KEY, faults=[fault]) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url, api_key=KEY))
        assert run.returncode == 1
        elsewhere = [r for r in sb.request_log() if r["host"].startswith("localhost")]
    assert elsewhere == []  # nothing, with or without the key, went to the other host
    error = run.errors[-1]
    assert f"stream '{t.paged}'" in error and "redirects to http://localhost:" in error and "refused" in error
    assert "http://127.0.0.1" in error  # both URLs named
    assert key_pieces(run.stdout + run.stderr) == []


@pytest.mark.parametrize("status", [301, 307, 308])
def test_a_redirect_within_the_origin_is_followed(status):
    t = TAPS["leads"]
    with run_sandbox("leads", records=250, faults=[f"redirect,status={status},path={t.paged_path}"]) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url))
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.ids(t.paged) == sb.truth(t.paged)
        moved = [r for r in sb.request_log() if r["moved"]]
    assert moved and all(r["credentials"] == ["X-API-KEY"] and r["auth_ok"] for r in moved)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A throwaway CA and a certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem)."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.cert_chain_pems[0].write_to_path(str(paths[1]))
    cert.private_key_pem.write_to_path(str(paths[2]))
    return paths


def test_an_https_to_http_downgrade_is_refused(tls, monkeypatch):
    ca, cert, key = tls
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    with (
        run_sandbox("crm", records=30, api_key=KEY) as plain,
        run_sandbox(
            "crm",
            records=30,
            api_key=KEY,
            tls=(str(cert), str(key)),
            faults=[f"redirect,path=/v1/tasks,location={plain.root_url}{{path}}?{{query}}"],
        ) as secure,
    ):
        run = run_tap("tap-crm", tap_config(secure.base_url, api_key=KEY))
        assert run.returncode == 1
        assert plain.request_log() == []
    assert "redirects to http://127.0.0.1" in run.errors[-1] and "refused" in run.errors[-1]


# -- no request hangs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trickle",
    [
        "delay=1",  # the body a byte a second
        # the status line and headers a byte every 0.3 s (about a minute for the head)
        "delay=0.3,variant=head",
    ],
    ids=["body", "head"],
)
@pytest.mark.parametrize("api", ALL)
def test_a_trickling_response_ends_after_the_retries_in_bounded_time(api, trickle):
    # Each read comes within the socket timeout; each attempt is still cut at request_timeout.
    t = TAPS[api]
    with run_sandbox(api, records=30, faults=[f"trickle,path={t.paged_path},{trickle}"]) as sb:
        config = tap_config(sb.base_url, request_timeout=2, max_retries=1, backoff_factor=0.1)
        run = run_tap(t.tap, config, timeout=120)
        assert run.returncode == 1
        attempts = [r for r in sb.request_log() if r["path"] == t.paged_path]
    assert len(attempts) == 2  # the first try and one retry, each cut at 2 s
    assert attempts[1]["time"] - attempts[0]["time"] < 2 + 0.1 + 2.0  # deadline + backoff + slack
    error = run.errors[-1]
    assert f"stream '{t.paged}'" in error and "failed after 2 attempts" in error
    assert "longer than request_timeout (2 s)" in error


# -- the key in no printed line ----------------------------------------------------------------------


@pytest.mark.parametrize("api", ALL)
@pytest.mark.parametrize(
    "case",
    ["echo", "echo-cut", "redirect-with-key", "wrong-key-echoed", "trailing-newline"],
)
def test_the_key_is_in_no_printed_line_in_any_form(api, case, monkeypatch):
    monkeypatch.setenv("LOGLEVEL", "DEBUG")  # urllib3 prints every request line at DEBUG
    t = TAPS[api]
    key, served_key, faults = KEY, KEY, []
    if case == "echo":
        faults = [f"echo,path={t.paged_path}"]
    elif case == "echo-cut":
        faults = [f"echo,path={t.paged_path},pad=140"]  # the key straddles the 200-character excerpt
    elif case == "redirect-with-key":
        faults = [f"redirect,path={t.paged_path},location=/_moved{{path}}?{{query}}&token={{key_quoted}}"]
    elif case == "wrong-key-echoed":
        served_key, faults = "the-right-key", ["echo"]  # the first request, whatever its path
    elif case == "trailing-newline":
        key = KEY + "\n"  # as pasted from a file
    with run_sandbox(api, records=30, api_key=served_key, faults=faults) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url, api_key=key))
        fired = [r for r in sb.request_log() if r["fault"]]
    assert fired or not faults, "the fault never fired"
    assert "DEBUG" in run.stderr
    assert key_pieces(run.stdout) == [] and key_pieces(run.stderr) == [], case
    if case == "trailing-newline":
        assert run.returncode == 0 and "api_key has whitespace around it: it is stripped" in run.stderr
    if case == "redirect-with-key":
        assert run.returncode == 0, run.stderr[-2000:]
        assert "***" in run.stderr  # the redirect URL was logged, masked


# -- https and proxies from the environment -----------------------------------------------------------


def test_https_with_an_internal_ca_from_requests_ca_bundle(tls, monkeypatch):
    ca, cert, key = tls
    with run_sandbox("leads", records=120, tls=(str(cert), str(key))) as sb:
        assert sb.base_url.startswith("https://")
        refused = run_tap("tap-leads", tap_config(sb.base_url))
        assert refused.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in refused.errors[-1]
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
        run = run_tap("tap-leads", tap_config(sb.base_url))
        assert run.returncode == 0, run.stderr[-3000:]
        for stream, ids in sb.truth().items():
            assert run.ids(stream) == ids, stream


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_requests_go_through_the_proxy_the_environment_names(scheme, tls, monkeypatch):
    ca, cert, key = tls
    options = {"tls": (str(cert), str(key))} if scheme == "https" else {}
    with run_sandbox("crm", records=30, **options) as sb, run_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
        started = time.time()
        run = run_tap("tap-crm", tap_config(sb.base_url))
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.ids("tasks") == sb.truth("tasks")
        log = proxy.log()
    port = sb.base_url.rsplit(":", 1)[1].split("/")[0]
    assert log and all(entry["target"] == f"127.0.0.1:{port}" for entry in log)
    if scheme == "https":
        assert {e["method"] for e in log} == {"CONNECT"}
    else:
        assert any("/v1/tasks" in (e["url"] or "") for e in log)
    assert time.time() - started < 120


def test_no_proxy_keeps_the_requests_off_the_proxy(monkeypatch):
    """NO_PROXY naming the API's host: the pages go straight to it, none through the proxy (the page
    client gives requests its proxies, so requests does not read the environment per send; the
    environment still decides, through the transport's own reading of it)."""
    with run_sandbox("crm", records=30) as sb, run_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        run = run_tap("tap-crm", tap_config(sb.base_url))
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.ids("tasks") == sb.truth("tasks")
        assert proxy.log() == []
