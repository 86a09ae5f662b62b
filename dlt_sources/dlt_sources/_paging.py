"""Offset paging that loses nothing and always ends.

dlt's ``OffsetPaginator`` advances by the page size it *asked* for, so a server that clamps page sizes
has records skipped silently; and a listing that never ends (a server that ignores the offset and
serves the next window of a cycling list, full pages for ever) is paged for ever.
``ReceivedCountOffsetPaginator`` advances by the records received, stops only on an empty page, and
ends a listing that goes round with ``EndlessListingError``: full pages in a row whose records were
all written before, by content (a digest of the whole record, so repeated ids under other records do
not count), or an optional ``max_pages`` ceiling. The digests it keeps are bounded (two generations),
so memory stays flat however long the listing.
"""

from __future__ import annotations

from typing import Any

from dlt.common.json import json
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from requests import Request, Response

from dlt_sources._errors import EndlessListingError

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
    """dlt's ``OffsetPaginator``, loss-free against servers that clamp or ignore page sizes, and
    bounded against listings that never end.

    * The next offset is the current offset plus the number of records *received*, not plus
      ``limit``: asked for 1000, served 100, the next request starts at +100.
    * A page shorter than ``limit`` is not the end (a clamped page is always short); only an
      empty page is. This costs one extra request per resource, the price of not knowing the clamp.
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

    def init_request(self, request: Request) -> None:
        self._start_listing()
        super().init_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        self.pages += 1
        if not data:
            self._has_next_page = False
            return
        self.current_value += len(data)
        if self.maximum_value is not None and self.current_value >= self.maximum_value:
            self._has_next_page = False
        self._longest = max(self._longest, len(data))
        self._check_progress(data)
        if self.has_next_page and self.max_pages is not None and self.pages >= self.max_pages:
            raise EndlessListingError(
                f"stopped at offset {self.current_value}: the resource has asked for {self.max_pages} pages "
                "(the max_pages setting) without reaching its end"
            )

    def _check_progress(self, data: list[Any]) -> None:
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
        if unseen or len(data) < min(self.limit, self._longest):
            self._stale_pages = self._stale_records = 0
            return
        self._stale_pages += 1
        self._stale_records += len(data)
        if self._stale_pages >= STALE_PAGE_LIMIT and self._stale_records >= STALE_RECORD_LIMIT:
            raise EndlessListingError(
                f"stopped at offset {self.current_value}: {self._stale_pages} full pages in a row held only "
                "records already written (the listing cycles, or the API ignores the offset)"
            )
