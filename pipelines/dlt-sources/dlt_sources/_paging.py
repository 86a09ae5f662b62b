"""Offset paging that loses nothing and always ends.

dlt's ``OffsetPaginator`` advances by the page size it *asked* for, so a server that clamps page sizes
has records skipped silently; an API whose offset counts pages, or a listing whose records move while
it is paged, has records skipped without a word; and a listing that never ends (a server that ignores
the offset and serves the next window of a cycling list, full pages for ever) is paged for ever.
``ReceivedCountOffsetPaginator`` advances by the records received and re-reads the last record of each
page as the first of the next (one record of overlap): a next page that does not begin with it means the
offsets do not count records as the documents say, or records moved, and the resource stops with
``ListingShiftedError`` naming the offset instead of skipping what it cannot see. The overlapping record
is taken out of the page before dlt sees it, so every record arrives once. A listing that goes round
ends with ``EndlessListingError``: full pages in a row whose records were all written before, by
content (a digest of the whole record, so repeated ids under other records do not count), or an
optional ``max_pages`` ceiling. The digests it keeps are bounded (two generations), so memory stays flat
however long the listing.
"""

from __future__ import annotations

from typing import Any

from dlt.common.json import json
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from requests import Request, Response

from dlt_sources._errors import EndlessListingError, ListingShiftedError

# Full pages in a row holding only records written before, and at least so many records, mean a
# listing that cycles (legitimate exact duplicates do not come in such runs). The taps use the same.
STALE_PAGE_LIMIT = 3
STALE_RECORD_LIMIT = 100
# Digests kept to recognise a cycle: two generations of this many each (a longer cycle is left to
# max_pages).
FINGERPRINT_GENERATION = 32_768


def fingerprint(record: Any) -> int:
    """An in-process digest of a record's whole content."""
    try:
        return hash(json.dumpb(record))
    except TypeError:  # a value the JSON writer refuses (an integer beyond 64 bits)
        return hash(repr(record))


class ReceivedCountOffsetPaginator(OffsetPaginator):
    """dlt's ``OffsetPaginator``, loss-free against servers that clamp or ignore page sizes, whose
    offsets count pages, or whose records move while they are paged, and bounded against listings that
    never end.

    * The next offset is the current offset plus the number of records *received*, less one: asked for
      1000, served 100, the next request starts 99 further on, at the page's last record.
    * That record must come back first (then it is dropped from the page, in place, before dlt yields
      it); anything else raises ``ListingShiftedError``. A page of that record alone is the end, as is
      an empty first page. A page shorter than ``limit`` is not the end (a clamped page is always short).
    * No total: the documents' APIs return none, so ``total_path`` is always ``None``.
    * ``STALE_PAGE_LIMIT`` full pages in a row of records already written, or ``max_pages`` requests
      without reaching the end, raise ``EndlessListingError`` instead of paging for ever.
    """

    def __init__(
        self,
        limit: int,
        offset: int = 0,
        offset_param: str | None = None,
        limit_param: str | None = None,
        maximum_offset: int | None = None,
        total_path: None = None,
        stop_after_empty_page: bool = True,
        max_pages: int | None = None,
    ) -> None:
        if total_path is not None or not stop_after_empty_page:
            raise ValueError(
                f"{type(self).__name__} stops on the first empty page and reads no total: "
                "leave total_path None and stop_after_empty_page True"
            )
        if max_pages is not None and max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        if limit < 2:
            raise ValueError(f"limit must be at least 2 (one record of each page is read twice), got {limit}")
        super().__init__(
            limit=limit,
            offset=offset,
            offset_param=offset_param,
            limit_param=limit_param,
            total_path=None,
            maximum_offset=maximum_offset,
            stop_after_empty_page=True,
        )
        self.max_pages = max_pages
        self._start_listing()

    def _start_listing(self) -> None:
        self.pages = 0
        self._longest = 0  # the longest page the server has sent: what it really serves per page
        self._stale_pages = self._stale_records = 0
        self._seen: set[int] = set()
        self._seen_before: set[int] = set()
        self._anchor: Any = None  # the last record received, expected first on the next page
        self._anchored = False

    def init_request(self, request: Request) -> None:
        self._start_listing()
        super().init_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        self.pages += 1
        served = len(data) if data else 0
        if self._anchored:
            self._drop_overlap(data)
        if not data:
            self._has_next_page = False
            return
        # The next request starts at this page's last record (see _drop_overlap).
        self.current_value += served - 1
        self._anchor, self._anchored = data[-1], True
        if self.maximum_value is not None and self.current_value + 1 >= self.maximum_value:
            self._has_next_page = False
        self._longest = max(self._longest, served)
        self._check_progress(data, served)
        if self.has_next_page and self.max_pages is not None and self.pages >= self.max_pages:
            raise EndlessListingError(
                f"stopped at offset {self.current_value}: the resource has asked for {self.max_pages} pages "
                "(the max_pages setting) without reaching its end"
            )

    def _drop_overlap(self, data: list[Any] | None) -> None:
        """The page must begin with the record that ended the page before; take it out of the page (the
        very list dlt goes on to yield), or raise ``ListingShiftedError``."""
        if data and _same_record(data[0], self._anchor):
            del data[0]
            return
        found = "an empty page" if not data else f"a page beginning with record {_describe(data[0])}"
        raise ListingShiftedError(
            f"stopped at offset {self.current_value}: expected the page there to begin with record "
            f"{_describe(self._anchor)}, the last of the page before, and got {found}: the API's offsets do "
            "not count records (they count pages, or are ignored), or records moved while the listing was "
            "paged; stopped rather than skip records unseen (run the load again)"
        )

    def _check_progress(self, data: list[Any], served: int) -> None:
        """Count full pages in a row that bring no record not written before; end the listing when
        there are enough of them to be a cycle, not a few exact duplicates."""
        current, before = self._seen, self._seen_before
        unseen = 0
        for digest in map(fingerprint, data):
            if digest not in current and digest not in before:
                unseen += 1
                current.add(digest)
        if len(current) >= FINGERPRINT_GENERATION:
            self._seen_before, self._seen = current, set()
        if unseen or served < min(self.limit, self._longest):
            self._stale_pages = self._stale_records = 0
            return
        self._stale_pages += 1
        self._stale_records += len(data)
        if self._stale_pages >= STALE_PAGE_LIMIT and self._stale_records >= STALE_RECORD_LIMIT:
            raise EndlessListingError(
                f"stopped at offset {self.current_value}: {self._stale_pages} full pages in a row held only "
                "records already written (the listing cycles, or the API ignores the offset)"
            )


def _same_record(record: Any, anchor: Any) -> bool:
    """The same content, or the same id (the record was updated between the two reads)."""
    if isinstance(record, dict) and isinstance(anchor, dict) and anchor.get("id") is not None:
        return record.get("id") == anchor["id"] or fingerprint(record) == fingerprint(anchor)
    return fingerprint(record) == fingerprint(anchor)


def _describe(record: Any) -> str:
    """A record named by its id when it has one, else by its start (for error lines)."""
    if isinstance(record, dict) and "id" in record:
        return f"id {record['id']!r}"
    text = repr(record)
    return text if len(text) <= 60 else text[:57] + "..."
