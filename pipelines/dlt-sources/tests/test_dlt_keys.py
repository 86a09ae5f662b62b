"""Issue 16 for the dlt variant: the runner, at RUNTIME__LOG_LEVEL=DEBUG, prints no six-character piece
of the key, raw or URL-encoded, on any failure path; a key pasted with whitespace is stripped with a
warning naming the setting, one with control characters refused before any request; an https API
trusted only through REQUESTS_CA_BUNDLE, and one behind a proxy, load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme

from api_sandbox import run_sandbox
from api_sandbox.proxy import run_proxy
from dlt_sources import SettingError
from dlt_sources.__main__ import describe_error
from dlt_sources.testing import extract, key_pieces, run_cli

KEY = "Ab+c/9=Zx-Q_w~K7/p+Lm=="  # +, / and = as generated keys often hold
ENV_KEY = {
    "crm": "SOURCES__CRM__API_KEY",
    "projects": "SOURCES__PROJECTS__API_KEY",
    "leads": "SOURCES__LEADS__API_KEY",
}


def run(api: str, sb: Any, tmp_path: Path, key: str, *args: str, **env: str) -> Any:
    out = ["--duckdb-file", str(tmp_path / f"dlt_{api}.duckdb"), "--pipelines-dir", str(tmp_path / "p")]
    return run_cli(api, "--base-url", sb.base_url, *out, *args, env={ENV_KEY[api]: key, **env})


# (api, key sent, fault, exit code): each auth style, each way a key has leaked before.
CASES = {
    # a same-host redirect carrying the key URL-encoded, followed (urllib3 logs its URL at DEBUG)
    "redirect-with-key": (
        "leads",
        KEY,
        "redirect,path=/v2/leads,count=1,location=/_moved{path}?{query}&token={key_quoted}",
        0,
    ),
    # the API refuses a wrong key and echoes it, raw, quoted and quote_plus'ed, in its 401 body
    "wrong-key-echoed": ("projects", "wr+ng/Key=9x" + KEY[:6], "echo,path=/v1/jobs", 1),
    # a key pasted from a file, with its line break
    "trailing-newline": ("crm", KEY + "\n", "", 0),
    # a 401 body whose 200-character excerpt is cut across the key
    "excerpt-cut-across-the-key": ("crm", KEY, "echo,pad=140,path=/v1/tasks", 1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_piece_of_the_key_is_printed_at_debug(case: str, tmp_path: Path) -> None:
    api, key, fault, code = CASES[case]
    with run_sandbox(api, records=30, api_key=key.strip(), faults=[fault] if fault else []) as sb:
        result = run(api, sb, tmp_path, key, "--max-attempts", "1", RUNTIME__LOG_LEVEL="DEBUG")
        faults = {r["fault"] for r in sb.request_log()}
    assert result.returncode == code, result.stderr[-3000:]
    printed = result.stdout + result.stderr
    assert "|[DEBUG]|" in printed  # dlt's debug lines were on
    assert key_pieces(printed, key) == [], printed[-3000:]
    if fault:
        assert fault.split(",")[0] in faults  # the fault fired
    if case == "redirect-with-key":
        assert "GET /_moved/v2/leads?offset=0&limit=100&token=***" in printed  # urllib3's line, masked
    if case == "trailing-newline":
        assert "config: sources.crm.api_key has whitespace around it: it is stripped" in result.stderr
    if code:
        assert "Traceback" not in result.stderr and result.stderr.strip().splitlines()[-1].startswith(
            "error: "
        )
        assert "HTTP 401" in result.stderr and "***" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("key", ["sandbox\nkey", "sandbox\x01key", "sand\tbox-key"])
def test_a_key_with_control_characters_is_refused_before_any_request(key: str) -> None:
    with run_sandbox("crm", records=5) as sb:
        with pytest.raises(SettingError) as caught:
            extract("crm", sb.base_url, api_key=key)
        assert sb.request_log() == []
    assert describe_error(caught.value, "crm") == (
        "error: sources.crm.api_key: contains control characters (a line break, tab or other)"
    )


def test_the_runner_refuses_such_a_key_in_one_line(tmp_path: Path) -> None:
    key = "  sandbox\nkey \n"  # stripped first (with the warning), then refused
    with run_sandbox("crm", records=5) as sb:
        result = run("crm", sb, tmp_path, key)
        assert sb.request_log() == []
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "dlt_sources: config: sources.crm.api_key has whitespace around it: it is stripped",
        "error: sources.crm.api_key: contains control characters (a line break, tab or other)",
    ]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(where / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(where / "cert.pem"))
    cert.private_key_pem.write_to_path(str(where / "key.pem"))
    return {name: str(where / f"{name}.pem") for name in ("ca", "cert", "key")}


def loaded_all(result: Any, truth: dict[str, list[Any]]) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    rows = dict(line.split()[:2] for line in result.stdout.splitlines()[1:])  # table, this run
    for name, ids in truth.items():
        assert rows[name] == str(len(ids)), name


def test_an_https_api_trusted_through_requests_ca_bundle(tls_files: dict[str, str], tmp_path: Path) -> None:
    with run_sandbox("projects", records=30, tls=(tls_files["cert"], tls_files["key"])) as sb:
        assert sb.base_url.startswith("https://")
        with pytest.raises(Exception) as caught:  # the CA is not trusted here
            extract("projects", sb.base_url, "jobs", max_attempts=1)
        trusted = run("projects", sb, tmp_path, "sandbox-key", "-q", REQUESTS_CA_BUNDLE=tls_files["ca"])
        truth = sb.truth()
    untrusted = describe_error(caught.value, "projects")
    assert untrusted.startswith(
        f"error: resource 'jobs': cannot reach {sb.base_url}/v1/jobs?from=0&limit=1000: TLS failed "
        "(CERTIFICATE_VERIFY_FAILED: certificate verify failed: "
    )
    assert untrusted.endswith("; trust its CA with REQUESTS_CA_BUNDLE")
    loaded_all(trusted, truth)


def test_a_load_through_a_proxy(tmp_path: Path) -> None:
    with run_sandbox("crm", records=30) as sb, run_proxy() as proxy:
        env = {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": "", "no_proxy": ""}
        result = run("crm", sb, tmp_path, "sandbox-key", "-q", **env)
        truth = sb.truth()
        proxied = {entry["url"].split("?")[0] for entry in proxy.log() if entry["method"] == "GET"}
    loaded_all(result, truth)
    assert proxied == {f"{sb.base_url}{spec.path}" for spec in sb.resources}
