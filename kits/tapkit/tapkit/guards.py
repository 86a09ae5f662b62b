"""The guards that end a listing that never would: each ends the stream with a clear error.

A server that ignores the offset and serves the same or the next window of a cycling list, or offsets
that count something other than records, would keep a stream paging for ever. Every request that
brings no new record counts towards ``NO_PROGRESS_LIMIT``; full pages whose records were all written
before (by content, see ``note_written``) count towards ``STALE_PAGE_LIMIT``; an optional ``max_pages``
caps the requests of a stream.
"""

from __future__ import annotations

import typing as t

from tapkit.errors import PaginationError

# Requests in a row that brought no record to write. Looking back from offset N takes at most
# log2(N / page) + 1 requests before it finds its place or starts over, so 32 is ample for any
# listing that behaves, and a bound for one that does not.
NO_PROGRESS_LIMIT = 32
# Full pages in a row whose every record was already written (same content), and at least so many
# records, mean a listing that cycles (legitimate exact duplicates do not come in such runs).
STALE_PAGE_LIMIT = 3
STALE_RECORD_LIMIT = 100
# Fingerprints of written records kept to recognise a cycle: two generations of this many each,
# so memory stays flat however long the stream (a cycle longer than this is left to max_pages).
FINGERPRINT_GENERATION = 32_768


class EndlessListingGuard:
    """Counts what a stream's pages bring, and raises PaginationError when they show no end."""

    def __init__(self, max_pages: int | None = None) -> None:
        self.max_pages = max_pages
        self._no_progress = 0
        self._stale_pages = 0
        self._stale_records = 0
        self._fingerprints: set[int] = set()
        self._older_fingerprints: set[int] = set()

    def check_page_limit(self, pages: int, offset: int) -> None:
        """Before a further request, ``pages`` made: the max_pages setting ends a stream that goes on."""
        if self.max_pages is not None and pages >= self.max_pages:
            raise PaginationError(
                f"stopped at offset {offset}: the stream has asked for {self.max_pages} pages "
                "(the max_pages setting) without reaching its end"
            )

    def progress(self, offset: int, brought_new: bool) -> None:
        """After the page at ``offset``: it brought a record to write (or ended the listing), or not."""
        if brought_new:
            self._no_progress = 0
            return
        self._no_progress += 1
        if self._no_progress >= NO_PROGRESS_LIMIT:
            raise PaginationError(
                f"stopped at offset {offset}: {NO_PROGRESS_LIMIT} requests in a row brought no new "
                "record (the API's offsets do not behave as record offsets)"
            )

    def written(
        self, fingerprints: t.Iterable[int], *, received: int, full: bool, finished: bool, offset: int
    ) -> None:
        """The fingerprints (in-process hashes of the content) of the records just written from a page of
        ``received`` records (``full``: as long as the server's pages; ``finished``: the listing's last,
        ``offset``: where the next would be). Full pages in a row
        that bring nothing not written before mean the listing cycles."""
        current, older = self._fingerprints, self._older_fingerprints
        page = list(fingerprints)
        written = len(page)
        new = set(page)  # set operations in C: a Python loop here cost a microsecond a record
        new.difference_update(current)
        new.difference_update(older)
        unseen = len(new)
        current.update(new)
        if not written:
            return  # a page that wrote nothing (a look-back): NO_PROGRESS_LIMIT counts those
        if len(current) >= FINGERPRINT_GENERATION:
            self._older_fingerprints, self._fingerprints = current, set()
        if unseen or not full or finished:
            self._stale_pages = self._stale_records = 0
            return
        self._stale_pages += 1
        self._stale_records += received
        if self._stale_pages >= STALE_PAGE_LIMIT and self._stale_records >= STALE_RECORD_LIMIT:
            raise PaginationError(
                f"stopped at offset {offset}: {self._stale_pages} full pages in a row held only records "
                "already written (the listing cycles, or the API ignores the offset)"
            )

    def forget_written(self) -> None:
        """The stream starts over: what comes again now is written again on purpose."""
        self._fingerprints.clear()
        self._older_fingerprints.clear()
