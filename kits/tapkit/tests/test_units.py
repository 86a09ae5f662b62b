"""Unit tests of the kit's pure parts: retry waits, Retry-After parsing, paging arithmetic, redaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from keyguard import Redactor
from tapkit import OverlapPaginator, RetryPolicy, parse_retry_after
from tapkit.errors import redact_url

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def between(low: float, high: float):
    return lambda seconds: low <= seconds <= high


def test_default_policy_is_the_documents():
    policy = RetryPolicy()
    assert policy.max_attempts == 4
    for retry, base in ((1, 2.0), (2, 4.0), (3, 8.0)):
        waits = [policy.wait(retry) for _ in range(50)]
        assert all(base <= w.seconds <= base * 1.1 and w.asked is None for w in waits)  # jitter: up to 10 %
    assert {s for s in range(400, 600) if policy.is_retriable(s)} | {429} == {429, 500, 502, 503, 504}
    assert not policy.is_retriable(501) and not policy.is_retriable(404)


def test_backoff_factor_scales_waits():
    assert [RetryPolicy(backoff_factor=0.5).backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_backoff_has_a_ceiling_jitter_included():
    policy = RetryPolicy(max_retries=100, max_backoff=60)
    assert policy.backoff(40) == 60.0 and policy.backoff(5000) == 60.0  # no overflow either
    assert all(policy.wait(n).seconds <= 60.0 for n in range(1, 100) for _ in range(5))
    assert RetryPolicy(backoff_factor=2, max_backoff=5).wait(3).seconds == 5.0  # 8 s asked, 5 s allowed


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-4", None),
        ("soon", None),
        ("", None),
        ("nan", None),
        ("inf", None),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(header, expected):
    assert parse_retry_after(header, now=NOW) == expected


def test_retry_after_wins_over_backoff_up_to_its_ceiling():
    policy = RetryPolicy()
    wait = policy.wait(1, "11", now=NOW)
    assert 11.0 <= wait.seconds <= 12.1 and wait.asked == 11.0 and not wait.too_long
    assert 1.0 <= policy.wait(3, "1", now=NOW).seconds <= 1.1
    assert 2.0 <= policy.wait(1, "junk", now=NOW).seconds <= 2.2  # unusable header: the backoff applies
    assert policy.wait(1, "300", now=NOW).seconds == 300.0  # at the ceiling: jitter does not go above
    longer = policy.wait(1, "86400", now=NOW)
    assert longer.too_long and longer.asked == 86400.0  # not waited for: the caller fails the stream
    assert not RetryPolicy(max_retry_after=100_000).wait(1, "86400", now=NOW).too_long


def test_jitter_never_shortens_a_wait_nor_passes_the_cap():
    assert all(4.0 <= RetryPolicy.jitter(4.0, 60) <= 4.4 for _ in range(200))
    assert all(RetryPolicy.jitter(4.0, 4.1) <= 4.1 for _ in range(200))
    assert RetryPolicy.jitter(9.0, 5.0) == 9.0  # a wait above the cap was decided elsewhere


def run_pages(page_size: int, served: list[int]) -> tuple[list[int], bool]:
    """Offsets requested by the paginator when the server answers with ``served`` page lengths."""
    paginator = OverlapPaginator(page_size)
    offsets = []
    for length in served:
        if paginator.finished:
            break
        offset = paginator.offset
        offsets.append(offset)
        paginator.accept(offset, [{"id": offset + i} for i in range(length)])
    return offsets, paginator.finished


def test_full_pages_then_short_page_ends_without_extra_request():
    assert run_pages(20, [20, 20, 7, 0]) == ([0, 20, 40], True)


def test_exact_multiple_ends_on_one_empty_page():
    assert run_pages(20, [20, 20, 0]) == ([0, 20, 40], True)


def test_clamping_server_advances_by_what_arrived_and_ends_on_empty_page():
    # Asked for 1000, the server sends at most 100: a short first page must not end the stream.
    assert run_pages(1000, [100, 100, 37, 0]) == ([0, 100, 200, 237], True)


def test_server_sending_more_than_asked_is_followed():
    assert run_pages(20, [50, 50, 30, 0]) == ([0, 50, 100, 130], True)


def test_single_short_page_costs_one_extra_request():
    assert run_pages(100, [7, 0]) == ([0, 7], True)


def test_resume_offset():
    paginator = OverlapPaginator(10, start=30)
    assert paginator.offset == 30


def test_redact_url_masks_secrets():
    url = "https://user:pw@api.example.com/v1/tasks?offset=0&api_key=s3cr3t&token=t0k&limit=20"
    assert redact_url(url) == "https://api.example.com/v1/tasks?offset=0&api_key=***&token=***&limit=20"
    assert "s3cr3t" not in redact_url("https://h/x?q=s3cr3t", Redactor(["s3cr3t"]))


@pytest.mark.parametrize(
    "records",
    [[{"id": 0}, {"name": "no id"}], [{"id": 1}, ["not", "an", "object"]], [{"id": 1}, "text"], [None]],
)
def test_records_without_primary_key_are_refused(records):
    import requests

    from tap_crm.tap import TapCRM
    from tapkit import ResponseError

    stream = TapCRM(config={"api_key": "k"}).streams["tasks"]
    response = requests.Response()
    response._content = json.dumps({"data": records}).encode()
    response.request = requests.Request("GET", "https://api.example.com/v1/tasks").prepare()
    with pytest.raises(ResponseError, match="not an object with primary key"):
        stream.extract_records(response)


@pytest.mark.parametrize(
    "value",
    [
        None,
        {},
        {"bookmarks": {"jobs": {"resume": {"offset": 2000, "tail": [["k", 1], ["k", 2]]}}}},
        {"bookmarks": {"a": {"x": None, "t": (1, 2.5, "z"), "at": datetime(2024, 1, 2, tzinfo=UTC)}}},
        {"currently_syncing": None, "bookmarks": {"é": {"replication_key_value": "2024-01-01T00:00:00Z"}}},
    ],
)
def test_state_line_is_the_sdks(value):
    """FastSingerWriter writes STATE without the SDK's deep copy (dataclasses.asdict): the same bytes."""
    from singer_sdk.singerlib.messages import StateMessage

    from tapkit.writer import FastSingerWriter, dumps_line

    message = StateMessage(value=value)
    line = FastSingerWriter().serialize_message(message)
    assert line == dumps_line(message.to_dict())
    assert json.loads(line)["type"] == "STATE"
