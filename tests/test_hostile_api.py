"""Issue 15 over real HTTP, for the three taps: listings that repeat ids lose nothing; listings that never
end, end; a fatal error stops everything at once; every wait is bounded and told. Timing is read off the
sandbox's request log (arrival times), never off the run's wall time."""

from __future__ import annotations

import itertools
import time

import pytest
from taps import TAPS

from api_sandbox import Fault, run_sandbox
from tapkit.testing import catalog_selecting, run_tap, tap_config

ALL = sorted(TAPS)
FAST_RETRY = {"backoff_factor": 0.01}


def log_of(sb, path: str) -> list[dict]:
    return [r for r in sb.request_log() if r["path"] == path]


# -- repeated ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("api", ALL)
def test_repeated_ids_every_record_arrives(api, concurrency):
    # Every ninth record repeats the id of the record six before it (a denormalised view).
    with run_sandbox(api, records=194, repeat_ids=(9, 6), max_page_size=20) as sb:
        run = run_tap(TAPS[api].tap, tap_config(sb.base_url, max_concurrency=concurrency))
        assert run.returncode == 0, run.stderr[-3000:]
        for spec in sb.resources:
            # by content, in order: the records served, repeated ids included, each once
            assert run.records(spec.name) == sb.records(spec.name), spec.name
    assert "the data moved" not in run.stderr  # nothing moved: no shift to report


# -- listings that never end -------------------------------------------------------------------


@pytest.mark.parametrize("overlap", [0, 1])
@pytest.mark.parametrize("api", ALL)
def test_a_cycling_listing_ends_with_a_clear_error(api, overlap):
    t = TAPS[api]
    with run_sandbox(api, records=100, max_page_size=20, faults=[f"cycle,path={t.paged_path}"]) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url, page_overlap=overlap))
        assert run.returncode == 1
        requests = len(log_of(sb, t.paged_path))
    # Bounded, not thousands: with 8 pages in flight every look-back or fresh start also discards up to
    # 7 guesses (the paginator's own bounds are tested without HTTP in test_paginator_properties).
    assert requests <= 150, requests
    error = run.errors[-1]
    assert f"stream '{t.paged}'" in error and "offset" in error
    assert any(s in error for s in ("cycles", "no new record", "fresh starts")), error
    assert "Traceback" not in run.stderr


def test_max_pages_stops_a_stream_that_goes_on():
    with run_sandbox("crm", records=300) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, max_pages=3, max_concurrency=1))
        assert run.returncode == 1
        assert len(log_of(sb, "/v1/accounts")) == 3  # accounts (pages of 10) is the first stream
    assert "stream 'accounts'" in run.errors[-1] and "max_pages" in run.errors[-1]
    # what came before the ceiling is out, with its state
    assert run.ids("accounts") == sb.truth("accounts")[:28]
    assert run.states[-1]["bookmarks"]["accounts"]["resume"]["offset"] == 28


# -- a fatal error stops everything ------------------------------------------------------------


def test_a_fatal_error_stops_every_page_in_flight_at_once():
    # The first two pages arrive; then every page answers 429 "come back in 60 s" except one, a 404. The
    # 429s take 0.5 s to answer, so the 404 comes while they are in flight, whatever order the pages go
    # out in (answered at once, a 429 would make the tap hold its next pages back for 60 s first).
    faults = [
        Fault(kind="status", status=404, path="/v1/tasks", on_requests={5}),
        Fault(
            kind="status",
            status=429,
            retry_after="60",
            delay_s=0.5,
            path="/v1/tasks",
            on_requests=range(3, 200),
        ),
    ]
    with run_sandbox("crm", records=400, faults=faults) as sb:
        started = time.time()
        run = run_tap("tap-crm", tap_config(sb.base_url))
        ended = started + run.seconds
        log = log_of(sb, "/v1/tasks")
    assert run.returncode == 1
    failed = next(r["time"] for r in log if r["status"] == 404)
    # Pages in flight with the 404 may arrive a moment after it; nothing is sent once the tap has it
    # (a retry of the 429s would come 60 s later, a new page at once).
    assert [r for r in log if r["time"] > failed + 0.5] == []
    assert ended - failed < 2.0 + 1.0  # out within two seconds (plus the test's own slack)
    last = run.stderr.strip().splitlines()[-1]
    assert "HTTP 404" in last and "stream 'tasks'" in last  # the first error is the last line


# -- waits bounded and told ----------------------------------------------------------------------


def test_retry_after_is_honoured_between_the_two_requests():
    faults = [Fault(kind="status", status=429, retry_after="2", path="/v1/persons", count=1)]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, **FAST_RETRY))
        assert run.returncode == 0, run.stderr[-2000:]
        first, second = log_of(sb, "/v1/persons")
    assert second["time"] - first["time"] >= 2.0  # the backoff alone would have waited 0.01 s
    assert first["fault"] == "status" and second["fault"] is None
    assert "the server asked for 2.0 s: Retry-After: 2" in run.stderr


def test_retry_after_as_an_http_date_is_honoured_between_the_two_requests():
    faults = [Fault(kind="status", status=503, retry_after_date=3.0, path="/v1/users", count=1)]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, **FAST_RETRY))
        assert run.returncode == 0, run.stderr[-2000:]
        first, second = log_of(sb, "/v1/users")[:2]
    assert second["time"] - first["time"] >= 2.0  # an HTTP date has whole seconds: at least 2 s away


def test_a_retry_after_longer_than_allowed_ends_the_stream_naming_the_setting():
    faults = [Fault(kind="status", status=429, retry_after="86400", path="/v1/persons")]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url))
        assert run.returncode == 1
        assert len(log_of(sb, "/v1/persons")) == 1  # not waited for, not retried
    error = run.errors[-1]
    assert "stream 'persons'" in error and "max_retry_after_seconds" in error and "86400" in error
    assert "failed after 1 attempt:" in error


def test_backoff_waits_have_a_ceiling():
    faults = [Fault(kind="status", status=503, path="/v1/persons", count=2)]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url, backoff_factor=100, max_backoff_seconds=0.5))
        assert run.returncode == 0, run.stderr[-2000:]
        times = [r["time"] for r in log_of(sb, "/v1/persons")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 2 and all(0.5 <= g < 0.5 + 2.0 for g in gaps)  # not 100 s, 200 s
    assert run.stderr.count("retry ") == 2 and "in 0.5 s" in run.stderr


def test_rate_limit_waits_over_a_second_are_told():
    with run_sandbox("crm", records=5) as sb:
        config = tap_config(sb.base_url, max_requests_per_second=0.8)
        # Two streams (a few requests): every crm stream at 1.25 s a request took over a minute.
        run = run_tap("tap-crm", config, catalog=catalog_selecting("tap-crm", config, "accounts", "contacts"))
        assert run.returncode == 0, run.stderr[-2000:]
        times = sorted(r["time"] for r in sb.request_log())
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1.0  # 1.25 s apart, give or take
    assert "for the rate limit (max_requests_per_second: 0.8)" in run.stderr


@pytest.mark.parametrize("status", [400, 404])
def test_a_fatal_status_names_no_attempt_count(status):
    faults = [Fault(kind="status", status=status, path="/v1/contacts")]
    with run_sandbox("crm", records=5, faults=faults) as sb:
        run = run_tap("tap-crm", tap_config(sb.base_url))
        assert run.returncode == 1
        assert len(log_of(sb, "/v1/contacts")) == 1
    assert f"HTTP {status}" in run.errors[-1] and "attempt" not in run.errors[-1]
