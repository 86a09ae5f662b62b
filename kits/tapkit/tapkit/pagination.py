"""Offset pagination that never skips a record and always ends.

Ways offset paging loses records or never ends, and what ``OverlapPaginator`` does about them:

1. Servers clamp or ignore page sizes. The offset advances by the number of records that
   arrived, never by the number asked for, and a page shorter than asked for only ends the stream
   once the server has shown that it honours our page size (an earlier page came back exactly
   full). Otherwise the end is an empty page: at most one extra request per stream.

2. Records are inserted or deleted while we page. With ``overlap`` k > 0, each page is requested
   k records before where the previous one ended and must start with the last k records written,
   in order and by content (primary key plus a digest of the whole record, so a listing that
   repeats an id under another record cannot fool it). When they are not there, the data moved:
   the paginator finds the latest record written that the page still holds, as a run of the same
   length, and continues after it. When none is in the page, or when it is in the page more than
   once (an ambiguous match), it looks back (1, 2, 4... pages earlier) and, as a last resort,
   starts the stream over: a repeat is harmless under merge on the primary key; a skip is a lost
   record. Every shift detected and what was done about it is reported through ``events``.

3. Some listings never end: ``tapkit.guards.EndlessListingGuard`` ends the stream with a clear error.

The matching itself (where the written records are in a page) is ``tapkit.matching.locate``; the
paginator decides what its answer means: continue after the record found, look back, or start over.
"""

from __future__ import annotations

import operator
import typing as t
from collections import deque
from dataclasses import dataclass

from tapkit.errors import PaginationError
from tapkit.guards import EndlessListingGuard
from tapkit.matching import Key, Known, Written, digest_of, hashable, key_of, locate, record_digest

MAX_RESTARTS = 3
# Pages during which records a move put out of sight are still recognised when they come again.
AHEAD_PAGES = 2


@dataclass
class Accepted:
    """What a page brought: the records to write, and where a rerun may resume afterwards."""

    records: list[dict]
    resume: dict[str, t.Any]


class OverlapPaginator:
    """Offsets by records received, each page re-reading the last ``overlap`` records of the one before."""

    def __init__(
        self,
        page_size: int,
        start: int = 0,
        *,
        overlap: int = 0,
        key: Key = operator.itemgetter("id"),
        anchors: t.Iterable[Known] = (),
        events: t.Callable[[str], None] | None = None,
        max_pages: int | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        if not 0 <= overlap < page_size:
            raise ValueError(f"overlap must be between 0 and page_size - 1, got {overlap}")
        self.page_size = page_size
        self.overlap = overlap
        self.key = key
        self.guard = EndlessListingGuard(max_pages)
        self.reached = start  # records of the data before our position, as far as we know
        # The last records written, oldest first: records of this run, or Known ones from a state.
        self.tail: deque[Written] = deque(anchors, maxlen=page_size)
        self._last_received = page_size
        self._longest = 0  # the longest page the server has sent: what it really serves per page
        self.offset = self._next_offset()
        self.pages = 0
        self.received = 0  # records in the last page accepted
        self.finished = False
        self.restarts = 0
        self.shifts = 0
        self._events = events or (lambda message: None)
        self._size_honoured = False
        self._lookback = 0
        # Records written before that a page did not show after the record it was found at: deleted,
        # or pushed further on by records inserted before them. Should they come in the next pages,
        # they are the same records (same id, same content), so they are not written again.
        self._ahead: set[tuple[t.Any, str | None]] = set()
        self._ahead_pages = 0

    # -- where to ask next -------------------------------------------------------------------

    def _next_offset(self) -> int:
        # An overlap needs a page longer than itself: a server that sends pages of k records or
        # fewer gets no overlap (and no shift detection) rather than no progress.
        overlap = min(self.overlap, len(self.tail), self._last_received - 1)
        return self.reached - overlap if overlap > 0 else self.reached

    def accept(self, offset: int, records: list[dict]) -> Accepted:
        """Take the page requested at ``offset``; return the records that are new."""
        if offset != self.offset:
            raise ValueError(f"page at offset {offset}, expected {self.offset}")
        self.pages += 1
        self.received = len(records)
        if records:
            self._last_received = len(records)
            self._longest = max(self._longest, len(records))
        if not (self.overlap and self.tail and offset < self.reached):
            new = records
            self._plain(offset, len(records))
            if self.pages == 1 and offset > 0 and not records:
                self._events(
                    f"resuming at offset {offset}, the first page is empty: the listing ends before the "
                    "resume point, so nothing more is written (if it shrank since the interrupted run, "
                    "records may have moved before that offset: sync with an empty state to get them)"
                )
        else:
            if len(records) == self.page_size:
                self._size_honoured = True
            after = self._after_tail(offset, records)
            if after is None:  # the place is not in this page: look further back (or start over)
                self.guard.progress(offset, self.finished)
                return Accepted([], self.resume_state)
            new = after
        if self._ahead:
            new = self._not_ahead(new)
        if self.overlap and new:
            self.tail.extend(new[-self.page_size :])
        self.offset = self._next_offset()
        self.guard.progress(offset, bool(new) or self.finished)
        return Accepted(new, self.resume_state)

    def _plain(self, offset: int, received: int) -> None:
        if received == self.page_size:
            self._size_honoured = True
        self.reached = offset + received
        self.finished = received == 0 or (received < self.page_size and self._size_honoured)

    def _not_ahead(self, new: list[dict]) -> list[dict]:
        """``new`` without the records written before that a move had put out of sight (see _ahead)."""
        kept = []
        for record in new:
            seen = (hashable(self.key(record)), record_digest(record))
            if seen in self._ahead:
                self._ahead.discard(seen)
            else:
                kept.append(record)
        self._ahead_pages -= 1
        if self._ahead_pages <= 0:
            self._ahead.clear()
        return kept

    @property
    def resume_state(self) -> dict[str, t.Any]:
        state: dict[str, t.Any] = {"offset": self.reached}
        if self.overlap and self.tail:
            last = list(self.tail)[-self.overlap :]
            state["anchors"] = [key_of(item, self.key) for item in last]
            state["digests"] = [digest_of(item) for item in last]
        return state

    # -- what a page that re-reads the last records says ----------------------------------------

    def _after_tail(self, offset: int, records: list[dict]) -> list[dict] | None:
        tail = list(self.tail)
        match = locate(
            tail,
            records,
            offset,
            expected=self.reached - offset,  # the page should start with this many written records
            run=max(1, min(self.overlap, len(tail))),
            key=self.key,
        )
        if match.index is None:
            self._look_back(offset, match.why)
            return None
        index, gone = match.index, match.gone
        expected = self.reached - 1 - gone  # where that record was when we wrote it
        moved = offset + index - expected
        if moved or gone or self._lookback:
            self.shifts += 1
            item = tail[len(tail) - 1 - gone]
            message = (
                f"the data moved under the offsets: record {key_of(item, self.key)!r}, written before, is "
                f"now at offset {offset + index}, was at {expected} ({moved:+d})"
            )
            if gone:
                message += (
                    f"; the {gone} records written after it are not in this page (deleted, or moved further "
                    "on: if they come again they are not written twice)"
                )
            self._events(f"{message}; continuing after it")
        if gone:
            self._ahead.update((hashable(key_of(x, self.key)), digest_of(x)) for x in tail[-gone:])
            self._ahead_pages = AHEAD_PAGES
        self._lookback = 0
        new = records[index + 1 :]
        self.reached = offset + len(records)
        # A short page ends the data where the server honours our page size; one that brought
        # nothing new ends it when it is shorter than what the server serves per page.
        short = len(records) < self.page_size
        self.finished = short and (self._size_honoured or (not new and len(records) < self._longest))
        return new

    def _look_back(self, offset: int, why: str) -> None:
        last = key_of(self.tail[-1], self.key)
        if offset > 0:
            self._lookback += 1
            step = max(self._longest, 1) * 2 ** (self._lookback - 1)
            self.offset = max(0, offset - step)
            self._events(
                f"the last record written ({last!r}) is {why}: the data moved; looking back from offset "
                f"{self.offset}"
            )
            return
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise PaginationError(
                f"the data keeps moving under the offsets: the records last written could not be found "
                f"again after {MAX_RESTARTS} fresh starts"
            )
        self._events(
            f"the last record written ({last!r}) is {why}: starting the stream over from offset 0 "
            "(records already written will be written again)"
        )
        self.tail.clear()
        self.guard.forget_written()
        self._lookback = 0
        self._size_honoured = False
        self.reached = 0
        self.offset = 0

    # -- listings that never end (tapkit.guards) ----------------------------------------------

    def check_page_limit(self) -> None:
        """Called before each further request: the max_pages setting ends a stream that would go on."""
        if not self.finished:
            self.guard.check_page_limit(self.pages, self.offset)

    def note_written(self, fingerprints: t.Iterable[int]) -> None:
        """The fingerprints (in-process hashes of the content) of the records just written from the
        last page accepted: full pages in a row that bring nothing new end a listing that cycles."""
        self.guard.written(
            fingerprints,
            received=self.received,
            full=self.received >= min(self.page_size, max(self._longest, 1)),
            finished=self.finished,
            offset=self.offset,
        )
