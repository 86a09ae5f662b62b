"""The paginator against listings that repeat ids, move while we page, or never end (pure, no HTTP).

A listing is a list of records ``{"id": ..., "v": ...}``; ids repeat (joined or denormalised views list
one id under several records), ``v`` tells records apart. Between requests records are inserted and
deleted at any position, the order of the others unchanged. The property: every record present from the
start of the sync to its end is written, whatever the ids, page size, overlap and moves; or the stream
ends with a PaginationError (a clear line), never a silent loss. Without moves every record is written
exactly once, in order.
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapkit.errors import PaginationError
from tapkit.guards import NO_PROGRESS_LIMIT
from tapkit.matching import Known, record_digest
from tapkit.pagination import OverlapPaginator


class Listing:
    """A server over ``records``: pages by record offset; ``moves`` apply after the request they name."""

    def __init__(self, records: list[dict], moves: dict[int, list[tuple[str, int, dict]]] | None = None):
        self.records = list(records)
        self.moves = moves or {}
        self.throughout = {id(r) for r in records}
        self.requests = 0

    def page(self, offset: int, limit: int) -> list[dict]:
        page = self.records[offset : offset + limit]
        self.requests += 1
        for kind, where, record in self.moves.get(self.requests, []):
            if kind == "del" and self.records:
                gone = self.records.pop(where % len(self.records))
                self.throughout.discard(id(gone))
            elif kind == "ins":
                self.records.insert(where % (len(self.records) + 1), record)
        return page


def fingerprints(records: list[dict]) -> list[int]:
    return [hash(json.dumps(r, sort_keys=True)) for r in records]


def sync(listing: Listing, page_size: int, overlap: int, **kwargs) -> list[dict]:
    paginator = OverlapPaginator(page_size, overlap=overlap, **kwargs)
    written: list[dict] = []
    while not paginator.finished:
        assert listing.requests < 5_000, "paging does not end"
        paginator.check_page_limit()
        offset = paginator.offset
        new = paginator.accept(offset, listing.page(offset, page_size)).records
        written += new
        paginator.note_written(fingerprints(new))
    return written


def repeated_ids(size: int, every: int = 9, back: int = 6) -> list[dict]:
    """Every ``every``-th record carries the id of the record ``back`` before it (the reported case)."""
    records = [{"id": 10 * (i + 1), "v": i} for i in range(size)]
    for p in range(every, size + 1, every):
        records[p - 1]["id"] = records[p - 1 - back]["id"]
    return records


@pytest.mark.parametrize("page_size", [20, 10, 100, 7])
@pytest.mark.parametrize("overlap", [1, 2, 3])
def test_repeated_ids_lose_nothing(page_size, overlap):
    # The reported loss: matching the overlap by id alone dropped the records before a repeated id.
    listing = Listing(repeated_ids(194))
    written = sync(listing, page_size, overlap)
    assert [r["v"] for r in written] == list(range(194))


def test_repeated_ids_followed_through_moves():
    records = repeated_ids(200)
    inserted = [{"id": 10 * (i + 1), "v": 1000 + i} for i in range(6)]  # new records, old ids
    moves = {3: [("ins", 25, inserted[0]), ("del", 30, {})], 5: [("ins", 61, inserted[1])]}
    listing = Listing(records, moves)
    written = sync(listing, 20, 1)
    assert listing.throughout <= {id(r) for r in written}


# -- the property -------------------------------------------------------------------------------

record_ids = st.integers(0, 12)  # few ids: many repeats


@st.composite
def listings(draw: st.DrawFn) -> tuple[list[dict], dict[int, list[tuple[str, int, dict]]]]:
    counter = itertools.count()
    size = draw(st.integers(0, 120))
    records = [{"id": draw(record_ids), "v": next(counter)} for _ in range(size)]
    moves: dict[int, list[tuple[str, int, dict]]] = {}
    for request, kind, where, rid in draw(
        st.lists(
            st.tuples(st.integers(1, 40), st.sampled_from(["del", "ins"]), st.integers(0, 10**6), record_ids),
            max_size=25,
        )
    ):
        moves.setdefault(request, []).append((kind, where, {"id": rid, "v": next(counter)}))
    return records, moves


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(listings(), st.integers(1, 25), st.integers(1, 4))
def test_every_record_present_throughout_arrives(listing_and_moves, page_size, overlap):
    records, moves = listing_and_moves
    overlap = min(overlap, page_size - 1)
    if overlap == 0:
        moves = {}  # without an overlap nothing can notice moves: that is the control below
    listing = Listing(records, moves)
    try:
        written = sync(listing, page_size, overlap)
    except PaginationError:
        assert moves, "a listing that stands still must never fail"
        return
    assert listing.throughout <= {id(r) for r in written}
    if not moves:
        assert written == records  # exactly once, in order


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(record_ids, st.integers(0, 3)), max_size=150), st.integers(1, 25), st.integers(0, 4)
)
def test_exact_duplicates_without_moves_arrive_exactly_once(pairs, page_size, overlap):
    # Whole records repeated (same id, same content), as a join can list them.
    records = [{"id": i, "v": v} for i, v in pairs]
    written = sync(Listing(records), page_size, min(overlap, page_size - 1))
    assert written == records


def test_without_overlap_moves_lose_records():
    # The control: plain offsets skip a record when one before our position is deleted.
    records = [{"id": i, "v": i} for i in range(100)]
    listing = Listing(records, {2: [("del", 3, {})]})
    written = sync(listing, 20, 0)
    assert len(listing.throughout - {id(r) for r in written}) == 1


# -- listings that never end --------------------------------------------------------------------


class Cycling:
    """Ignores the offset and serves the next window of a cycling list: full pages for ever."""

    def __init__(self, size: int):
        self.records = [{"id": i, "v": i} for i in range(size)]
        self.position = 0
        self.requests = 0

    def page(self, offset: int, limit: int) -> list[dict]:
        self.requests += 1
        page = [self.records[(self.position + i) % len(self.records)] for i in range(limit)]
        self.position = (self.position + limit) % len(self.records)
        return page


@pytest.mark.parametrize("overlap", [0, 1, 3])
@pytest.mark.parametrize(("size", "page_size"), [(300, 20), (45, 20), (1000, 100), (57, 10)])
def test_a_cycling_listing_ends_with_an_error(overlap, size, page_size):
    server = Cycling(size)
    with pytest.raises(PaginationError, match=r"cycles|ignores the offset|no new record|fresh starts"):
        sync(server, page_size, overlap)  # type: ignore[arg-type]
    # one pass over the list, then a few pages: not thousands of requests
    assert server.requests <= size // page_size + NO_PROGRESS_LIMIT + 10


class PageOffsets:
    """``offset`` counts pages, not records (2 records, pages of 20: offset 1 is an empty page)."""

    def __init__(self, size: int):
        self.records = [{"id": i, "v": i} for i in range(size)]
        self.requests = 0

    def page(self, offset: int, limit: int) -> list[dict]:
        self.requests += 1
        return self.records[offset * limit : offset * limit + limit]


@pytest.mark.parametrize("overlap", [1, 2])
def test_offsets_counting_pages_end_in_bounded_requests(overlap):
    server = PageOffsets(2)
    with pytest.raises(PaginationError, match="no new record"):
        sync(server, 20, overlap)  # type: ignore[arg-type]
    assert server.requests <= NO_PROGRESS_LIMIT + 2


def test_max_pages_stops_a_listing_that_goes_on():
    listing = Listing([{"id": i, "v": i} for i in range(1000)])
    with pytest.raises(PaginationError, match="max_pages"):
        sync(listing, 10, 1, max_pages=5)
    assert listing.requests == 5


@pytest.mark.parametrize("overlap", [0, 1])
def test_a_server_ignoring_the_offset_ends_with_an_error(overlap):
    # The same page whatever the offset: nothing new comes, by position or by content.
    class SamePage(Listing):
        def page(self, offset: int, limit: int) -> list[dict]:
            return super().page(0, limit)

    server = SamePage([{"id": i, "v": i} for i in range(30)])
    with pytest.raises(PaginationError, match=r"no new record|already written"):
        sync(server, 10, overlap)
    assert server.requests <= NO_PROGRESS_LIMIT + 10


# -- resume points -------------------------------------------------------------------------------


def test_resume_state_names_the_last_records_by_key_and_content():
    records = repeated_ids(60)
    paginator = OverlapPaginator(20, overlap=2)
    accepted = paginator.accept(0, records[:20])
    assert accepted.resume == {
        "offset": 20,
        "anchors": [records[18]["id"], records[19]["id"]],
        "digests": [record_digest(records[18]), record_digest(records[19])],
    }
    # A rerun from that state, against a listing whose next page repeats the id of the anchor.
    again = OverlapPaginator(
        20, start=20, overlap=2, anchors=[Known(r["id"], record_digest(r)) for r in records[18:20]]
    )
    assert again.offset == 18
    assert again.accept(18, records[18:38]).records == records[20:38]


def test_an_anchor_without_digest_still_matches_by_key():
    records = [{"id": i, "v": i} for i in range(40)]
    paginator = OverlapPaginator(20, start=20, overlap=1, anchors=[Known(19, None)])
    assert paginator.accept(19, records[19:39]).records == records[20:39]


def test_a_record_pushed_out_of_the_page_is_not_written_twice():
    # Pages in flight see the data at different moments: the look-back page ends before the last record
    # written (records were inserted before it), so that record looks gone; it comes again next page.
    rec = {i: {"id": i, "v": i} for i in range(40)}
    new = {n: {"id": n, "v": n} for n in (81, 82, 83)}
    paginator = OverlapPaginator(10, overlap=1)
    written = paginator.accept(0, [rec[i] for i in range(10)]).records
    # 3 and 6 deleted: record 9 is now at offset 7, the page at 9 holds neither 9 nor 8
    assert paginator.accept(9, [rec[i] for i in range(11, 21)]).records == []
    assert paginator.offset == 0  # looking back
    # meanwhile 81, 82, 83 were inserted after 8: the look-back page ends before 9
    page = [rec[0], rec[1], rec[2], rec[4], rec[5], rec[7], rec[8], new[81], new[82], new[83]]
    written += paginator.accept(0, page).records
    page = [new[83], *(rec[i] for i in range(9, 18))]
    written += paginator.accept(paginator.offset, page).records
    ids = [r["id"] for r in written]
    assert ids == [*range(10), 81, 82, 83, *range(10, 18)]  # 9 once, nothing lost


def test_pages_that_write_nothing_are_not_taken_for_a_cycle():
    # Look-back pages write nothing: they must not count as "full pages of records already written".
    paginator = OverlapPaginator(10, overlap=1)
    for _ in range(10):
        paginator.note_written([])  # would raise after 3 if counted (with 100 records' worth)
    paginator.received = 10
    for _ in range(10):
        paginator.note_written([])
