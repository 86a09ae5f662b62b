"""Issue 15 for the dlt variant, over real HTTP: repeated ids lose nothing; a listing that never ends
(cycling, or an API that ignores the offset) ends in bounded requests with one clear line naming the
resource and the offset; max_pages caps a resource; the digests kept for it stay bounded."""

from __future__ import annotations

from typing import Any

import pytest
from requests import Request, Response

from api_sandbox import run_sandbox
from dlt_sources import EndlessListingError, ReceivedCountOffsetPaginator
from dlt_sources.__main__ import describe_error
from dlt_sources._paging import FINGERPRINT_GENERATION
from dlt_sources.testing import extract, extract_records, run_cli

CYCLE_MESSAGE = (
    "full pages in a row held only records already written (the listing cycles, or the API ignores "
    "the offset)"
)


def paged_requests(sb: Any, path: str) -> list[dict[str, Any]]:
    return [r for r in sb.request_log() if r["path"] == path]


@pytest.mark.parametrize("api", ["crm", "projects", "leads"])
def test_repeated_ids_lose_nothing(api: str) -> None:
    # Every ninth record carries the id of the record six before it, with its own content.
    with run_sandbox(api, records=120, max_page_size=25, repeat_ids=(9, 6)) as sb:
        got = extract_records(api, sb.base_url)
        paged = [spec.name for spec in sb.resources if spec.paginated]
        for name in paged:
            assert got[name] == sb.records(name), name  # every record, repeats included, in order
            assert len(set(sb.truth(name))) < len(sb.truth(name)), f"{name}: no id was repeated"


def test_a_cycling_listing_ends_with_one_line_naming_resource_and_offset() -> None:
    # 60 tasks in pages of 20, served round and round: 3 new pages, then pages of records seen before.
    with run_sandbox("crm", records=60, faults=["cycle,path=/v1/tasks"]) as sb:
        with pytest.raises(Exception) as caught:
            extract("crm", sb.base_url, "tasks")
        requests = paged_requests(sb, "/v1/tasks")
    assert len(requests) == 8  # 3 pages, then 5 stale pages of 20 (at least 100 records)
    assert describe_error(caught.value, "crm") == (
        f"error: resource 'tasks': stopped at offset 160: 5 {CYCLE_MESSAGE}"
    )


def test_the_runner_ends_a_cycling_listing_with_exit_1(tmp_path: Any) -> None:
    # projects jobs: offset "from", page size "limit" 1000, clamped to 40 by the server.
    with run_sandbox("projects", records=100, max_page_size=40, faults=["cycle,path=/v1/jobs"]) as sb:
        args = ["projects", "--base-url", sb.base_url, "--duckdb-file", str(tmp_path / "p.duckdb")]
        result = run_cli(
            *args, "--pipelines-dir", str(tmp_path / "p"), env={"SOURCES__PROJECTS__API_KEY": "sandbox-key"}
        )
        requests = paged_requests(sb, "/v1/jobs")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: resource 'jobs': stopped at offset {40 * len(requests)}: 3 {CYCLE_MESSAGE}"
    )
    assert len(requests) == 6  # 100 records in pages of 40: 3 pages, then 3 stale pages (120 records)


def test_max_pages_caps_a_resource() -> None:
    with run_sandbox("crm", records=100) as sb:
        with pytest.raises(Exception) as caught:
            extract("crm", sb.base_url, "tasks", max_pages=3)
        assert len(paged_requests(sb, "/v1/tasks")) == 3
        assert describe_error(caught.value, "crm") == (
            "error: resource 'tasks': stopped at offset 60: the resource has asked for 3 pages "
            "(the max_pages setting) without reaching its end"
        )
        sb.reset()
        # 5 full pages and the empty one: a ceiling of 6 is reached at the end, not before it.
        assert extract("crm", sb.base_url, "tasks", max_pages=6)["tasks"] == sb.truth("tasks")


def _page(paginator: ReceivedCountOffsetPaginator, records: list[dict[str, Any]]) -> None:
    paginator.update_state(Response(), records)


def test_a_server_ignoring_the_offset_is_stopped() -> None:
    paginator = ReceivedCountOffsetPaginator(limit=50, offset_param="offset", limit_param="limit")
    paginator.init_request(Request("GET", "http://api/v1/tasks"))
    page = [{"id": i, "name": f"n{i}"} for i in range(50)]
    _page(paginator, page)
    _page(paginator, page)  # one page again is no proof (a few exact duplicates happen)
    _page(paginator, page)
    with pytest.raises(EndlessListingError) as caught:
        _page(paginator, page)
    assert str(caught.value) == f"stopped at offset 200: 3 {CYCLE_MESSAGE}"


def test_pages_of_repeated_ids_with_new_content_are_progress() -> None:
    paginator = ReceivedCountOffsetPaginator(limit=50, offset_param="offset", limit_param="limit")
    paginator.init_request(Request("GET", "http://api/v1/tasks"))
    for round_ in range(10):  # the same ids every page, each time with other content
        _page(paginator, [{"id": i, "name": f"n{i}-{round_}"} for i in range(50)])
    assert paginator.has_next_page


def test_the_digests_kept_stay_bounded() -> None:
    paginator = ReceivedCountOffsetPaginator(limit=1000, offset_param="offset", limit_param="limit")
    paginator.init_request(Request("GET", "http://api/v1/tasks"))
    for start in range(0, 80_000, 1000):
        _page(paginator, [{"id": i} for i in range(start, start + 1000)])
    kept = len(paginator._seen) + len(paginator._seen_before)
    assert FINGERPRINT_GENERATION <= kept <= 2 * FINGERPRINT_GENERATION
    assert paginator.current_value == 80_000 and paginator.has_next_page
