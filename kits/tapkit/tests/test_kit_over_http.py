"""The kit's promises, proven over real HTTP against the sandbox with the taps' real console scripts.

Pagination request sequences, every id exactly once (also against servers that clamp page sizes
and with pages in flight), the retry policy, one-line failures, secrecy, config checks, resume.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest

from api_sandbox import Fault, run_sandbox
from tapkit.matching import record_digest
from tapkit.testing import catalog_selecting, run_tap, tap_config

# One page after another, at exactly the document's offsets (no overlap: see test_overlap_*).
SEQUENTIAL = {"max_concurrency": 1, "page_overlap": 0}
FAST_RETRY = {"backoff_factor": 0.01}


def requests_to(sb, path: str) -> list[dict]:
    return [r["query"] for r in sb.request_log() if r["path"] == path]


def assert_every_id_once(run, sb):
    truth = sb.truth()
    assert run.streams() == set(truth)
    for stream, ids in truth.items():
        assert run.ids(stream) == ids, stream


# -- pagination -------------------------------------------------------------------------------


def test_crm_offset_limit_sequence_and_single_requests():
    with run_sandbox("crm", records=45) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, **SEQUENTIAL))
        assert run.returncode == 0, run.stderr[-2000:]
        assert requests_to(sb, "/v1/tasks") == [
            {"offset": "0", "limit": "20"},
            {"offset": "20", "limit": "20"},
            {"offset": "40", "limit": "20"},  # 5 records < 20 after full pages: the end, no extra request
        ]
        assert [q["offset"] for q in requests_to(sb, "/v1/accounts")] == ["0", "10", "20", "30", "40"]
        for path in ("/v1/persons", "/v1/datasources/email", "/v1/customfields/types", "/v1/pipelines"):
            assert requests_to(sb, path) == [{}], path  # not paginated: one request, no paging params
        assert_every_id_once(run, sb)


def test_projects_from_size_and_jobs_limit():
    with run_sandbox("projects", records=250) as sb:
        run = run_tap("tap-projects", tap_config(sb.base_url, **SEQUENTIAL))
        assert run.returncode == 0, run.stderr[-2000:]
        assert requests_to(sb, "/v1/tasks") == [
            {"from": "0", "size": "100"},
            {"from": "100", "size": "100"},
            {"from": "200", "size": "100"},
        ]
        # jobs: the document names no size parameter; dlt's default name goes out.
        assert requests_to(sb, "/v1/jobs") == [
            {"from": "0", "limit": "1000"},
            {"from": "250", "limit": "1000"},
        ]
        assert requests_to(sb, "/v1/activities")[0] == {"from": "0", "size": "1000"}
        assert_every_id_once(run, sb)


def test_leads_paths_under_v2_and_only_two_paginated_resources():
    with run_sandbox("leads", records=120) as sb:
        run = run_tap("tap-leads", tap_config(sb.base_url, **SEQUENTIAL))
        assert run.returncode == 0, run.stderr[-2000:]
        assert requests_to(sb, "/v2/spreadsheets") == [
            {"offset": "0", "limit": "100"},
            {"offset": "100", "limit": "100"},
        ]
        assert requests_to(sb, "/v2/clients") == [{}]
        paginated = {r["path"] for r in sb.request_log() if r["query"]}
        assert paginated == {"/v2/leads", "/v2/spreadsheets"}
        assert_every_id_once(run, sb)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_clamping_server_loses_nothing(concurrency):
    # The server sends at most 7 records whatever we ask for: advancing by the page size asked
    # for, or stopping at the first short page, would skip records here.
    with run_sandbox("projects", records=61, max_page_size=7) as sb:
        run = run_tap("tap-projects", tap_config(sb.base_url, max_concurrency=concurrency, page_overlap=0))
        assert run.returncode == 0, run.stderr[-2000:]
        assert_every_id_once(run, sb)
        if concurrency == 1:
            offsets = [int(q["from"]) for q in requests_to(sb, "/v1/files")]
            assert offsets == [*range(0, 61, 7), 61]  # one extra request, answered by an empty page


def test_overlap_request_sequence():
    # Each page starts one record before the previous one ended, to check the data did not move.
    with run_sandbox("crm", records=45) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, max_concurrency=1))
        assert run.returncode == 0, run.stderr[-2000:]
        assert requests_to(sb, "/v1/tasks") == [
            {"offset": "0", "limit": "20"},
            {"offset": "19", "limit": "20"},
            {"offset": "38", "limit": "20"},
        ]
        assert_every_id_once(run, sb)
    with run_sandbox("projects", records=30, max_page_size=7) as sb:
        run = run_tap("tap-projects", tap_config(sb.base_url, max_concurrency=1))
        offsets = [int(q["from"]) for q in requests_to(sb, "/v1/files")]
        assert offsets == [0, 6, 12, 18, 24, 29]  # clamped to 7: advance by what arrived, less the overlap
        assert_every_id_once(run, sb)


@pytest.mark.parametrize("overlap", [0, 1, 3])
def test_pages_in_flight_write_exactly_what_sequential_writes(overlap):
    def strip(run):
        return [
            (m["type"], m.get("stream"), m.get("record"), m.get("value"))
            for m in run.messages
            if m["type"] in ("RECORD", "STATE", "SCHEMA")
        ]

    with run_sandbox("crm", records=333, max_page_size={"tags": 13, "users": 9}) as sb:
        one = run_tap("tap-crm", tap_config(sb.base_url, max_concurrency=1, page_overlap=overlap))
        eight = run_tap("tap-crm", tap_config(sb.base_url, max_concurrency=8, page_overlap=overlap))
    assert one.returncode == eight.returncode == 0
    assert strip(one) == strip(eight)


# -- retry policy ------------------------------------------------------------------------------


def test_three_retries_succeed_with_backoff_waits():
    faults = [Fault(kind="status", status=503, path="/v1/persons", count=3)]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, backoff_factor=0.4))
        assert run.returncode == 0, run.stderr[-2000:]
        log = [r for r in sb.request_log() if r["path"] == "/v1/persons"]
        assert [r["status"] for r in log] == [503, 503, 503, 200]
        assert_every_id_once(run, sb)
    gaps = [b["time"] - a["time"] for a, b in itertools.pairwise(log)]
    for gap, wait in zip(gaps, (0.4, 0.8, 1.6), strict=True):  # factor * 2^(n-1), plus up to 10 % jitter
        assert wait <= gap < wait * 1.1 + 1.0, gaps
    assert run.stderr.count("retry ") == 3


def test_fourth_failure_fails_clearly():
    faults = [Fault(kind="status", status=502, path="/v1/tasks", count=4)]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, **FAST_RETRY))
        assert run.returncode == 1
        assert len(requests_to(sb, "/v1/tasks")) == 4
    assert "Traceback" not in run.stderr
    message = run.errors[-1]
    assert "stream 'tasks'" in message and "/v1/tasks?offset=0&limit=20" in message
    assert "failed after 4 attempts" in message and "HTTP 502" in message


@pytest.mark.parametrize("max_retries", [0, 1])
def test_max_retries_setting(max_retries):
    faults = [Fault(kind="status", status=500, path="/v1/pipelines")]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, max_retries=max_retries, **FAST_RETRY))
        assert run.returncode == 1
        assert len(requests_to(sb, "/v1/pipelines")) == max_retries + 1


def test_retry_after_seconds_is_honoured():
    faults = [Fault(kind="status", status=429, retry_after="2", path="/v1/persons", count=1)]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, **FAST_RETRY))
        assert run.returncode == 0, run.stderr[-2000:]
        first, second = [r for r in sb.request_log() if r["path"] == "/v1/persons"]
    assert first["status"] == 429 and second["status"] == 200
    assert second["time"] - first["time"] >= 2.0  # the backoff alone would have waited 0.01 s


def test_retry_after_http_date_is_honoured():
    faults = [Fault(kind="status", status=503, retry_after_date=3.0, path="/v1/users", count=1)]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, **FAST_RETRY))
        assert run.returncode == 0, run.stderr[-2000:]
        first, second = [r for r in sb.request_log() if r["path"] == "/v1/users"][:2]
    assert first["status"] == 503 and second["status"] == 200
    assert second["time"] - first["time"] >= 2.0  # an HTTP date has whole seconds: 3 s ahead is >= 2 s away


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(status):
    faults = [Fault(kind="status", status=status, path="/v1/contacts")]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, **FAST_RETRY))
        assert run.returncode == 1
        assert len(requests_to(sb, "/v1/contacts")) == 1
    message = run.errors[-1]
    assert f"HTTP {status}" in message and "stream 'contacts'" in message
    assert ("api_key" in message) == (status in (401, 403))


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="drop", path="/v1/tags", count=2),
        Fault(kind="slow", delay_s=3.0, path="/v1/tags", count=1),
        Fault(kind="status", status=504, path="/v1/tags", on_requests={2, 3}),
    ],
    ids=["dropped-connection", "timeout", "gateway-timeout"],
)
def test_transient_failures_are_retried_and_lose_nothing(fault):
    with run_sandbox("crm", records=50, faults=[fault]) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, request_timeout=1, **FAST_RETRY))
        assert run.returncode == 0, run.stderr[-2000:]
        assert_every_id_once(run, sb)
        deadline = time.monotonic() + 10  # a slow answer is logged when it is sent, after the tap gave up
        while not (fired := [r for r in sb.request_log() if r["fault"] is not None]):
            assert time.monotonic() < deadline, "the fault never fired: the test proved nothing"
            time.sleep(0.1)
    assert run.stderr.count("retry ") >= len(fired)  # each one was retried, and said so


# -- malformed responses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (Fault(kind="not_json", path="/v1/jobs", on_requests={2}), "not JSON"),
        (Fault(kind="html", path="/v1/jobs", on_requests={2}), "not JSON (text/html"),
        (Fault(kind="no_selector", path="/v1/jobs", on_requests={2}), "no 'results' key"),
        (Fault(kind="no_selector", variant="error", path="/v1/jobs", on_requests={2}), "no 'results' key"),
    ],
    ids=["not-json", "html-200", "no-selector", "error-envelope"],
)
def test_malformed_body_fails_the_stream_and_resumes(fault, says):
    with run_sandbox("projects", records=30, max_page_size=10, faults=[fault]) as sb:
        config = tap_config(sb.base_url, **SEQUENTIAL)
        run = run_tap("tap-projects", config)
        assert run.returncode == 1
        message = run.errors[-1]
        assert says in message and "stream 'jobs'" in message and "/v1/jobs?from=10" in message
        assert run.ids("jobs") == sb.truth("jobs")[:10]  # the first page went out, nothing else
        state = run.states[-1]
        assert state["bookmarks"]["jobs"]["resume"] == {"offset": 10}

        rerun = run_tap("tap-projects", config, state=state)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert rerun.ids("jobs") == sb.truth("jobs")[10:]
        assert "resume" not in rerun.states[-1]["bookmarks"]["jobs"]


# -- secrets and config ------------------------------------------------------------------------


def test_api_key_never_appears_in_output():
    key = "SeCrEt-KEY-4242"
    faults = [
        Fault(kind="status", status=503, path="/v1/tasks", count=1),
        Fault(kind="status", status=404, path="/v1/users"),
    ]
    with run_sandbox("crm", records=5, api_key=key, faults=faults) as sb:
        run = run_tap("tap-crm", {"api_key": key, "base_url": sb.base_url, **FAST_RETRY})
        assert run.returncode == 1
    assert key not in run.stdout and key not in run.stderr


def test_wrong_key_says_check_the_key():
    with run_sandbox("leads", records=5) as sb:
        run = run_tap("tap-leads", {"api_key": "not-the-key", "base_url": sb.base_url})
        assert run.returncode == 1
        assert len(sb.request_log()) == 1  # a 401 is not retried
    assert "HTTP 401" in run.errors[-1] and "Check the api_key setting" in run.errors[-1]
    assert "not-the-key" not in run.stderr


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({}, "missing required setting 'api_key'"),
        ({"api_key": ""}, "api_key: must not be empty"),
        ({"api_key": "k", "base_url": "ftp://example.com"}, "is not an http(s) URL"),
        ({"api_key": "k", "base_url": "not a url"}, "is not an http(s) URL"),
        ({"api_key": "k", "max_retries": -1}, "max_retries: -1 is too small"),
        ({"api_key": "k", "backoff_factor": "fast"}, "backoff_factor: 'fast' is not a number"),
        ({"api_key": "k", "max_concurrency": 0}, "max_concurrency: 0 is too small"),
    ],
)
def test_bad_config_stops_before_any_request(config, says):
    with run_sandbox("crm", records=5) as sb:
        config = {"base_url": sb.base_url, **config} if "base_url" not in config else config
        run = run_tap("tap-crm", config)
        assert run.returncode == 1
        assert sb.request_log() == []
    errors = run.errors
    assert len(errors) == 1 and says in errors[0], run.stderr
    assert "Traceback" not in run.stderr


# -- resume ------------------------------------------------------------------------------------


def test_resume_offset_in_state_and_cleared_at_the_end():
    with run_sandbox("crm", records=100) as sb:
        config = tap_config(sb.base_url, **SEQUENTIAL)
        state = {"bookmarks": {"tasks": {"resume": {"offset": 40}}}}
        run = run_tap("tap-crm", config, state=state)
        assert run.returncode == 0, run.stderr[-2000:]
        assert requests_to(sb, "/v1/tasks")[0] == {"offset": "40", "limit": "20"}
        assert run.ids("tasks") == sb.truth("tasks")[40:]
        offsets = [s["bookmarks"]["tasks"].get("resume", {}).get("offset") for s in run.states]
        # the input state echoed, then one STATE per page written (streams run in name order)
        assert list(dict.fromkeys(offsets)) == [40, 60, 80, 100, None]
        assert "resume" not in run.states[-1]["bookmarks"]["tasks"]


def test_resume_with_overlap_checks_the_anchor_first():
    with run_sandbox("crm", records=100) as sb:
        config = tap_config(sb.base_url, max_concurrency=1)
        first = run_tap("tap-crm", config)
        mid = next(
            s for s in first.states if s["bookmarks"].get("tasks", {}).get("resume", {}).get("offset") == 58
        )
        record = sb.records("tasks")[57]
        assert mid["bookmarks"]["tasks"]["resume"] == {
            "offset": 58,
            "anchors": [record["id"]],
            "digests": [record_digest(record)],  # the last record written, by key and by content
        }
        sb.reset()
        rerun = run_tap("tap-crm", config, state=mid)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert requests_to(sb, "/v1/tasks")[0] == {"offset": "57", "limit": "20"}
        assert rerun.ids("tasks") == sb.truth("tasks")[58:]


def test_discover_lists_every_stream_with_schema_and_key():
    with run_sandbox("leads", records=5) as sb:
        run = run_tap("tap-leads", tap_config(sb.base_url), extra_args=("--discover",))
        assert sb.request_log() == []  # discovery reads the schemas shipped with the tap
    catalog = json.loads(run.stdout)
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert set(streams) == {spec.name for spec in sb.resources}
    for stream in streams.values():
        assert stream["key_properties"] == ["id"]
        assert "id" in stream["schema"]["properties"]


def test_stream_maps_and_flattening_take_the_sdk_path_and_lose_nothing():
    config = {
        "stream_maps": {"tasks": {"description": None}, "accounts": {"__filter__": "id % 20 == 0"}},
        "flattening_enabled": True,
        "flattening_max_depth": 1,
    }
    with run_sandbox("crm", records=70) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, **config))
        assert run.returncode == 0, run.stderr[-2000:]
        assert run.ids("tasks") == sb.truth("tasks")
        assert all("description" not in r for r in run.records("tasks"))
        assert run.ids("accounts") == [i for i in sb.truth("accounts") if i % 20 == 0]
        nested = [k for r in run.records("tasks") for k, v in r.items() if isinstance(v, dict)]
        assert nested == []  # flattened one level
        assert any("resume" in s["bookmarks"].get("tasks", {}) for s in run.states)
        assert "resume" not in run.states[-1]["bookmarks"]["tasks"]


def test_undeclared_fields_are_dropped_with_one_warning(tmp_path):
    # A catalog whose tasks schema lacks two properties: under schema_contract discard_value the fast path
    # must drop them, as the SDK does (the default, evolve, adds them back: test_drift_sync.py).
    with run_sandbox("crm", records=30) as sb:
        catalog = catalog_selecting("tap-crm", tap_config(sb.base_url), "tasks")
        tasks = next(e for e in catalog["streams"] if e["tap_stream_id"] == "tasks")
        tasks["schema"]["properties"].pop("name")
        tasks["schema"]["properties"].pop("reminder")
        run = run_tap("tap-crm", tap_config(sb.base_url, schema_contract="discard_value"), catalog=catalog)
        assert run.returncode == 0, run.stderr[-2000:]
        assert run.streams() == {"tasks"}
        assert run.ids("tasks") == sb.truth("tasks")
        assert all("name" not in r and "reminder" not in r for r in run.records("tasks"))
    warnings = [line for line in run.stderr.splitlines() if "not found in catalog schema" in line]
    assert len(warnings) == 1 and "name" in warnings[0] and "reminder" in warnings[0]
