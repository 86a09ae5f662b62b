"""`python -m dlt_sources` as a user runs it: key from the environment, base URL from a flag,
per-table rows at the end, one line and a non-zero exit on error."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import api_sandbox
from api_sandbox import Fault
from dlt_sources.testing import run_cli


def out_args(tmp_path: Path, api: str) -> list[str]:
    return ["--duckdb-file", str(tmp_path / f"dlt_{api}.duckdb"), "--pipelines-dir", str(tmp_path / "p")]


def test_leads_load_with_key_from_env(tmp_path: Path) -> None:
    with api_sandbox.run_sandbox("leads", records=150) as sb:
        result = run_cli(
            "leads",
            "--base-url",
            sb.base_url,
            *out_args(tmp_path, "leads"),
            env={"SOURCES__LEADS__API_KEY": "sandbox-key"},
        )
        assert result.returncode == 0, result.stderr
        truth = sb.truth()
    lines = result.stdout.splitlines()
    assert lines[0].startswith("dlt leads -> ")
    table = {
        line.split()[0]: line.split()[1:]
        for line in lines[lines.index(next(x for x in lines if x.startswith("table"))) + 1 :]
    }
    for name, ids in truth.items():
        assert table[name] == [str(len(ids)), str(len(ids))], name  # this run, in dataset
    with duckdb.connect(str(tmp_path / "dlt_leads.duckdb"), read_only=True) as con:
        (n,) = con.execute('SELECT count(*) FROM leads."prospecting_lists"').fetchone()  # type: ignore[misc]
    assert n == 150


def test_missing_key_is_one_line(tmp_path: Path) -> None:
    # cwd outside the repository: no .dlt/ found, so no key from any secrets.toml either
    result = run_cli("crm", "--base-url", "http://127.0.0.1:9", *out_args(tmp_path, "crm"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: no API key for crm: set SOURCES__CRM__API_KEY, or api_key under [sources.crm] in "
        ".dlt/secrets.toml (see .dlt/secrets.toml.example)"
    ]


def test_wrong_key_is_one_line(tmp_path: Path) -> None:
    with api_sandbox.run_sandbox("projects", records=5) as sb:
        result = run_cli(
            "projects", "--base-url", sb.base_url, "--api-key", "wrong", *out_args(tmp_path, "projects")
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: resource 'jobs': HTTP 401 from http://127.0.0.1:")
    assert line.endswith(
        '(not retried): {"error": "unauthorized", "message": "missing or invalid API key"}. '
        "Check the API key (SOURCES__PROJECTS__API_KEY): the API refused it."
    )


def test_wrong_envelope_is_one_line_naming_resource_and_url(tmp_path: Path) -> None:
    with api_sandbox.run_sandbox("crm", records=30) as sb:
        sb.add_fault(Fault(kind="no_selector", path="/v1/contacts", count=1))
        result = run_cli(
            "crm",
            "--base-url",
            sb.base_url,
            *out_args(tmp_path, "crm"),
            env={"SOURCES__CRM__API_KEY": "sandbox-key"},
        )
    assert result.returncode == 1
    (line,) = [x for x in result.stderr.strip().splitlines() if x.startswith("error:")]
    assert line == (
        f"error: resource 'contacts': the response from {sb.base_url}/v1/contacts?offset=0&limit=20 "
        "has no 'data' key (it has ['items']); refusing to load zero rows"
    )


def test_retries_are_reported_and_survived(tmp_path: Path) -> None:
    with api_sandbox.run_sandbox("crm", records=30) as sb:
        sb.add_fault(Fault(status=503, path="/v1/users", count=2))
        result = run_cli(
            "crm",
            "--base-url",
            sb.base_url,
            "--backoff-factor",
            "0.01",
            *out_args(tmp_path, "crm"),
            env={"SOURCES__CRM__API_KEY": "sandbox-key"},
        )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("users: HTTP 503 from ") == 2


def test_key_and_base_url_from_dlt_toml_files(tmp_path: Path) -> None:
    """dlt's own mechanism: .dlt/secrets.toml and .dlt/config.toml in the working directory."""
    with api_sandbox.run_sandbox("projects", records=20) as sb:
        (tmp_path / ".dlt").mkdir()
        (tmp_path / ".dlt" / "secrets.toml").write_text('[sources.projects]\napi_key = "sandbox-key"\n')
        (tmp_path / ".dlt" / "config.toml").write_text(f'[sources.projects]\nbase_url = "{sb.base_url}"\n')
        result = run_cli("projects", "-q", *out_args(tmp_path, "projects"), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert {r["path"] for r in sb.request_log()} == {
            "/v1/jobs",
            "/v1/contacts",
            "/v1/tasks",
            "/v1/activities",
            "/v1/files",
        }


def test_postgres_destination(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """--destination postgres with dlt's own credentials variable."""
    dsn = request.getfixturevalue("pg_database")  # tests/conftest.py: skipped without PostgreSQL
    with api_sandbox.run_sandbox("projects", records=30) as sb:
        env = {"SOURCES__PROJECTS__API_KEY": "sandbox-key", "DESTINATION__POSTGRES__CREDENTIALS": dsn}
        args = ["projects", "--destination", "postgres", "--base-url", sb.base_url, "-q"]
        result = run_cli(*args, "--pipelines-dir", str(tmp_path / "p"), env=env)
        assert result.returncode == 0, result.stderr
        truth = sb.truth()
    import psycopg2

    con = psycopg2.connect(dsn)
    try:
        with con.cursor() as cur:
            for name, ids in truth.items():
                cur.execute(f'SELECT id FROM projects."{name}" ORDER BY id')
                assert [row[0] for row in cur.fetchall()] == sorted(ids), name
    finally:
        con.close()
