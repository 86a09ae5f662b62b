"""Offset pagination that never skips a record.

Two ways offset paging loses records without a word, and what this paginator does about them:

1. Servers clamp or ignore page sizes. The offset advances by the number of records that
   arrived, never by the number asked for, and a page shorter than asked for only ends the stream
   once the server has shown that it honours our page size (an earlier page came back exactly
   full). Otherwise the end is an empty page: at most one extra request per stream.

2. Records are inserted or deleted while we page. With ``overlap`` k > 0, each page is requested
   k records before where the previous one ended, and must start with the records we already
   have (the *anchors*: the ids of the last page written). When it does not, the data moved:
   the last anchor found in the page says by how much, and only records after it are new. When no
   anchor is in the page, the paginator looks back (1, 2, 4... pages earlier) until it finds one,
   and as a last resort starts the stream over (a repeat is harmless under merge on the primary
   key; a skip is a lost record). Every shift detected and how it was recovered is reported
   through ``events``.
"""

from __future__ import annotations

import operator
import typing as t
from collections import deque
from dataclasses import dataclass

from tapkit.errors import PaginationError

MAX_RESTARTS = 3


@dataclass
class Accepted:
    """What a page brought: the records to write, and where a rerun may resume afterwards."""

    records: list[dict]
    resume: dict[str, t.Any]


class OffsetPaginator:
    def __init__(
        self,
        page_size: int,
        start: int = 0,
        *,
        overlap: int = 0,
        key: t.Callable[[dict], t.Any] = operator.itemgetter("id"),
        anchors: t.Iterable[t.Any] = (),
        events: t.Callable[[str], None] | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        if not 0 <= overlap < page_size:
            raise ValueError(f"overlap must be between 0 and page_size - 1, got {overlap}")
        self.page_size = page_size
        self.overlap = overlap
        self.key = key
        self.reached = start  # records of the data before our position, as far as we know
        self.anchors: deque[t.Any] = deque(anchors, maxlen=page_size)
        self._last_received = page_size
        self._longest = 0  # the longest page the server has sent: what it really serves per page
        self.offset = self._next_offset()
        self.pages = 0
        self.finished = False
        self.restarts = 0
        self.shifts = 0
        self._events = events or (lambda message: None)
        self._size_honoured = False
        self._lookback = 0
        self._previous_first: t.Any = None
        self._previous_offset: int | None = None

    def _next_offset(self) -> int:
        # An overlap needs a page longer than itself: a server that sends pages of k records or
        # fewer gets no overlap (and no shift detection) rather than no progress.
        overlap = min(self.overlap, len(self.anchors), self._last_received - 1)
        return self.reached - overlap if overlap > 0 else self.reached

    def _plain(self, offset: int, received: int) -> None:
        if received == self.page_size:
            self._size_honoured = True
        self.reached = offset + received
        self.finished = received == 0 or (received < self.page_size and self._size_honoured)
        self.offset = self._next_offset()

    def accept(self, offset: int, records: list[dict]) -> Accepted:
        """Take the page requested at ``offset``; return the records that are new."""
        if offset != self.offset:
            raise ValueError(f"page at offset {offset}, expected {self.offset}")
        self.pages += 1
        self._check_offset_moves(offset, records)
        if records:
            self._last_received = len(records)
            self._longest = max(self._longest, len(records))
        if not (self.overlap and self.anchors and offset < self.reached):
            new = records
            self._plain(offset, len(records))
        else:
            if len(records) == self.page_size:
                self._size_honoured = True
            after = self._after_anchors(offset, records)
            if after is None:  # no anchor in the page: look further back (or start over)
                return Accepted([], self.resume_state)
            new = after

        if new and self.overlap:
            self.anchors.extend(map(self.key, new[-self.page_size :]))
        self.offset = self._next_offset()
        return Accepted(new, self.resume_state)

    @property
    def resume_state(self) -> dict[str, t.Any]:
        state: dict[str, t.Any] = {"offset": self.reached}
        if self.overlap and self.anchors:
            state["anchors"] = list(self.anchors)[-self.overlap :]
        return state

    def _after_anchors(self, offset: int, records: list[dict]) -> list[dict] | None:
        keys = list(map(self.key, records))
        anchor_set = set(self.anchors)
        found = next((j for j in range(len(keys) - 1, -1, -1) if keys[j] in anchor_set), None)
        if found is None:
            self._look_back(offset, len(records))
            return None
        anchors = list(self.anchors)
        expected = self.reached - len(anchors) + anchors.index(keys[found])
        moved = offset + found - expected
        if moved or self._lookback:
            self.shifts += 1
            self._events(
                f"the data moved by {moved:+d} records under the offsets (record {keys[found]!r} is now "
                f"at {offset + found}, was at {expected}); continuing after it, nothing skipped"
            )
        self._lookback = 0
        new = [r for r, k in zip(records[found + 1 :], keys[found + 1 :], strict=True) if k not in anchor_set]
        self.reached = offset + len(records)
        # A short page ends the data where the server honours our page size; one that brought
        # nothing new ends it when it is shorter than what the server serves per page.
        short = len(records) < self.page_size
        self.finished = short and (self._size_honoured or (not new and len(records) < self._longest))
        return new

    def _look_back(self, offset: int, received: int) -> None:
        if offset > 0:
            self._lookback += 1
            step = max(self._longest, 1) * 2 ** (self._lookback - 1)
            self.offset = max(0, offset - step)
            self._events(
                f"none of the last {len(self.anchors)} records written is where it was (page at {offset} "
                f"had {received} records): the data moved; looking back from offset {self.offset}"
            )
            return
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise PaginationError(
                f"the data keeps moving under the offsets: the records last written could not be found "
                f"again after {MAX_RESTARTS} fresh starts"
            )
        self._events(
            "the records last written are gone from the data: starting the stream over from offset 0 "
            "(records already written may come again; none is skipped)"
        )
        self.anchors.clear()
        self._lookback = 0
        self._size_honoured = False
        self.reached = 0
        self.offset = 0

    def _check_offset_moves(self, offset: int, records: list[dict]) -> None:
        first = self.key(records[0]) if records else None
        if (
            first is not None
            and self._previous_offset is not None
            and offset > self._previous_offset + self.overlap
            and first == self._previous_first
        ):
            raise PaginationError(
                f"the page at offset {offset} starts with the same record as the page at "
                f"{self._previous_offset}: the API ignores the offset parameter, so paging would never end"
            )
        self._previous_first, self._previous_offset = first, offset
