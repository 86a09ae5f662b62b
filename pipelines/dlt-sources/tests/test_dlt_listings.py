"""Issue 15 for the dlt variant, over real HTTP: repeated ids lose nothing; a listing that never ends
(cycling, or an API that ignores the offset) ends in bounded requests with one clear line naming the
resource and the offset; a listing that shifts under the paginator (records deleted while it pages)
stops instead of skipping; max_pages caps a resource; the digests kept for it stay bounded."""

from __future__ import annotations

from typing import Any

import pytest
from requests import Request, Response

from api_sandbox import run_sandbox
from dlt_sources import EndlessListingError, ListingShiftedError, ReceivedCountOffsetPaginator
from dlt_sources.__main__ import describe_error
from dlt_sources._paging import FINGERPRINT_GENERATION
from dlt_sources.testing import SHIFTED, extract, extract_records, run_cli

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
    # 60 tasks in pages of 20, served round and round whatever the offset: the second page does not
    # begin with the first page's last record (it is read again at offset 19), so the resource stops.
    with run_sandbox("crm", records=60, faults=["cycle,path=/v1/tasks"]) as sb:
        with pytest.raises(Exception) as caught:
            extract("crm", sb.base_url, "tasks")
        requests = paged_requests(sb, "/v1/tasks")
        ids = sb.truth("tasks")
    assert len(requests) == 2
    assert describe_error(caught.value, "crm") == (
        "error: resource 'tasks': stopped at offset 19: expected the page there to begin with record "
        f"id {ids[19]}, the last of the page before, and got a page beginning with record id {ids[20]}: "
        + SHIFTED
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
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: resource 'jobs': stopped at offset 39: expected the page there to begin")
    assert last.endswith(SHIFTED)
    assert len(requests) == 2


def test_records_deleted_while_paging_stop_the_resource() -> None:
    # A record before the offset is deleted between two requests: every later record moves down one,
    # so the next page begins one record late. Without the overlap record 20 was skipped unseen.
    records = [{"id": i} for i in range(60)]
    paginator = ReceivedCountOffsetPaginator(limit=20, offset_param="offset", limit_param="limit")
    paginator.init_request(Request("GET", "http://api/v1/tasks"))
    _page(paginator, records[:20])
    del records[5]
    with pytest.raises(ListingShiftedError) as caught:
        _page(paginator, records[19:39])
    assert str(caught.value) == (
        "stopped at offset 19: expected the page there to begin with record id 19, the last of the page "
        f"before, and got a page beginning with record id 20: {SHIFTED}"
    )


def test_max_pages_caps_a_resource() -> None:
    with run_sandbox("crm", records=100) as sb:
        with pytest.raises(Exception) as caught:
            extract("crm", sb.base_url, "tasks", max_pages=3)
        assert len(paged_requests(sb, "/v1/tasks")) == 3
        assert describe_error(caught.value, "crm") == (
            "error: resource 'tasks': stopped at offset 57: the resource has asked for 3 pages "
            "(the max_pages setting) without reaching its end"
        )
        sb.reset()
        # Pages of 20 from each page's last record: 5 full pages bring 96 records, the 6th the last 4
        # (and the record read again), the 7th that record alone, the end. A ceiling of 7 is reached
        # at the end, not before it.
        assert extract("crm", sb.base_url, "tasks", max_pages=7)["tasks"] == sb.truth("tasks")


def _page(paginator: ReceivedCountOffsetPaginator, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One page served to the paginator; what dlt then yields of it (the record read again taken out)."""
    page = list(records)
    paginator.update_state(Response(), page)
    return page


def _pages(records: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """The pages an API that honours offsets serves, each from the last record of the page before."""
    pages, offset = [], 0
    while True:
        page = records[offset : offset + size]
        pages.append(page)
        if len(page) <= 1 and offset:
            return pages
        offset += len(page) - 1


def test_a_server_ignoring_the_offset_is_stopped_on_its_second_page() -> None:
    paginator = ReceivedCountOffsetPaginator(limit=50, offset_param="offset", limit_param="limit")
    paginator.init_request(Request("GET", "http://api/v1/tasks"))
    page = [{"id": i, "name": f"n{i}"} for i in range(50)]
    _page(paginator, page)
    with pytest.raises(ListingShiftedError) as caught:
        _page(paginator, page)  # the first page again: it does not begin with record 49
    assert str(caught.value) == (
        "stopped at offset 49: expected the page there to begin with record id 49, the last of the page "
        f"before, and got a page beginning with record id 0: {SHIFTED}"
    )


def test_every_record_is_yielded_once_across_the_overlap() -> None:
    records = [{"id": i % 7, "n": i} for i in range(103)]  # repeated ids, each record its own content
    paginator = ReceivedCountOffsetPaginator(limit=10, offset_param="offset", limit_param="limit")
    paginator.init_request(Request("GET", "http://api/v1/tasks"))
    yielded = [r for page in _pages(records, 10) for r in _page(paginator, page)]
    assert yielded == records and not paginator.has_next_page


def test_a_record_updated_between_two_reads_is_still_the_overlap() -> None:
    paginator = ReceivedCountOffsetPaginator(limit=3, offset_param="offset", limit_param="limit")
    paginator.init_request(Request("GET", "http://api/v1/tasks"))
    _page(paginator, [{"id": 1, "v": 0}, {"id": 2, "v": 0}, {"id": 3, "v": 0}])
    assert _page(paginator, [{"id": 3, "v": 1}, {"id": 4, "v": 0}]) == [{"id": 4, "v": 0}]


def test_a_listing_that_wraps_round_is_stopped_as_a_cycle() -> None:
    # An API that takes offsets modulo its size: pages go on, each beginning as it should.
    records = [{"id": i, "name": f"n{i}"} for i in range(60)]
    paginator = ReceivedCountOffsetPaginator(limit=50, offset_param="offset", limit_param="limit")
    paginator.init_request(Request("GET", "http://api/v1/tasks"))
    offset = 0
    with pytest.raises(EndlessListingError) as caught:
        for _ in range(20):
            _page(paginator, [records[(offset + i) % 60] for i in range(50)])
            offset += 49
    assert str(caught.value).endswith(f"3 {CYCLE_MESSAGE}")
    assert paginator.pages <= 6


def test_pages_of_repeated_ids_with_new_content_are_progress() -> None:
    paginator = ReceivedCountOffsetPaginator(limit=50, offset_param="offset", limit_param="limit")
    paginator.init_request(Request("GET", "http://api/v1/tasks"))
    last: dict[str, Any] | None = None
    for round_ in range(10):  # the same ids every page, each time with other content
        page = [{"id": i, "name": f"n{i}-{round_}"} for i in range(49)]
        _page(paginator, ([last] if last else []) + page)
        last = page[-1]
    assert paginator.has_next_page


def test_the_digests_kept_stay_bounded() -> None:
    paginator = ReceivedCountOffsetPaginator(limit=1001, offset_param="offset", limit_param="limit")
    paginator.init_request(Request("GET", "http://api/v1/tasks"))
    for start in range(0, 80_000, 1000):
        _page(paginator, [{"id": i} for i in range(max(start - 1, 0), start + 1000)])
    kept = len(paginator._seen) + len(paginator._seen_before)
    assert FINGERPRINT_GENERATION <= kept <= 2 * FINGERPRINT_GENERATION
    assert paginator.current_value == 79_999 and paginator.has_next_page
