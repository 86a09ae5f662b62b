"""Offset pagination that never skips a record and always ends.

Ways offset paging loses records or never ends, and what this paginator does about them:

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

3. Some listings never end: a server that ignores the offset and serves the same or the next
   window of a cycling list, or offsets that count something other than records. Every request
   that brings no new record counts towards ``NO_PROGRESS_LIMIT``; full pages whose records were
   all written before (by content, see ``note_written``) count towards ``STALE_PAGE_LIMIT``; an
   optional ``max_pages`` caps the requests of a stream. Each ends the stream with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import operator
import typing as t
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

import orjson

from tapkit.errors import PaginationError

MAX_RESTARTS = 3
# Pages during which records a move put out of sight are still recognised when they come again.
AHEAD_PAGES = 2
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


def _canonical(value: t.Any) -> t.Any:
    # A number parsed as Decimal digests as the float a plain parser would give, so the same record
    # digests the same on a page read exactly and on a page read the fast way.
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    return str(value)


def record_digest(record: t.Any) -> str:
    """A digest of a record's whole content, stable across runs (it is kept in the state)."""
    try:
        data = orjson.dumps(record, default=_canonical, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        data = json.dumps(
            record, default=_canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass(frozen=True)
class Known:
    """A record written before, as a resume state remembers it (no digest in an older state)."""

    key: t.Any
    digest: str | None


@dataclass
class Accepted:
    """What a page brought: the records to write, and where a rerun may resume afterwards."""

    records: list[dict]
    resume: dict[str, t.Any]


def _hashable(key: t.Any) -> t.Any:
    return tuple(key) if isinstance(key, list) else key


class OffsetPaginator:
    def __init__(
        self,
        page_size: int,
        start: int = 0,
        *,
        overlap: int = 0,
        key: t.Callable[[dict], t.Any] = operator.itemgetter("id"),
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
        self.max_pages = max_pages
        self.reached = start  # records of the data before our position, as far as we know
        # The last records written, oldest first: records of this run, or Known ones from a state.
        self.tail: deque[dict | Known] = deque(anchors, maxlen=page_size)
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
        self._no_progress = 0
        self._stale_pages = 0
        self._stale_records = 0
        # Records written before that a page did not show after the record it was found at: deleted,
        # or pushed further on by records inserted before them. Should they come in the next pages,
        # they are the same records (same id, same content), so they are not written again.
        self._ahead: set[tuple[t.Any, str | None]] = set()
        self._ahead_pages = 0
        self._fingerprints: set[int] = set()
        self._older_fingerprints: set[int] = set()

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
                self._progress(offset, [])
                return Accepted([], self.resume_state)
            new = after
        if self._ahead:
            new = self._not_ahead(new)
        if self.overlap and new:
            self.tail.extend(new[-self.page_size :])
        self.offset = self._next_offset()
        self._progress(offset, new)
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
            seen = (_hashable(self.key(record)), record_digest(record))
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
            state["anchors"] = [self._key_of(item) for item in last]
            state["digests"] = [self._digest_of(item) for item in last]
        return state

    # -- matching the overlap ----------------------------------------------------------------

    def _key_of(self, item: dict | Known) -> t.Any:
        return item.key if isinstance(item, Known) else self.key(item)

    @staticmethod
    def _digest_of(item: dict | Known) -> str | None:
        return item.digest if isinstance(item, Known) else record_digest(item)

    def _same(self, item: dict | Known, record: dict) -> bool:
        if self._key_of(item) != self.key(record):
            return False
        digest = self._digest_of(item)
        return digest is None or digest == record_digest(record)

    def _locate(self, offset: int, records: list[dict]) -> tuple[int, int] | str:
        """``(index in the page, how many written records are gone after it)``, or why not found."""
        tail = list(self.tail)
        expected = self.reached - offset  # the page should start with this many written records
        if expected <= min(len(tail), len(records)) and all(
            self._same(tail[i - expected], records[i]) for i in range(expected)
        ):
            return expected - 1, 0
        run = max(1, min(self.overlap, len(tail)))
        positions: dict[t.Any, list[int]] = {}
        for j, record in enumerate(records):
            positions.setdefault(_hashable(self.key(record)), []).append(j)
        for gone in range(len(tail)):  # the latest written record still in the page, as a run
            last = len(tail) - 1 - gone
            found = [
                j
                for j in positions.get(_hashable(self._key_of(tail[last])), ())
                if all(self._same(tail[last - i], records[j - i]) for i in range(min(run, last + 1, j + 1)))
            ]
            if len(found) == 1:
                return found[0], gone
            if found:
                return f"found at {len(found)} places in the page at offset {offset}"
        return f"not in the page at offset {offset} ({len(records)} records)"

    def _after_tail(self, offset: int, records: list[dict]) -> list[dict] | None:
        where = self._locate(offset, records)
        if isinstance(where, str):
            self._look_back(offset, where)
            return None
        index, gone = where
        expected = self.reached - 1 - gone  # where that record was when we wrote it
        moved = offset + index - expected
        if moved or gone or self._lookback:
            self.shifts += 1
            item = self.tail[len(self.tail) - 1 - gone]
            message = (
                f"the data moved under the offsets: record {self._key_of(item)!r}, written before, is now "
                f"at offset {offset + index}, was at {expected} ({moved:+d})"
            )
            if gone:
                message += (
                    f"; the {gone} records written after it are not in this page (deleted, or moved further "
                    "on: if they come again they are not written twice)"
                )
            self._events(f"{message}; continuing after it")
        if gone:
            tail = list(self.tail)
            self._ahead.update((_hashable(self._key_of(x)), self._digest_of(x)) for x in tail[-gone:])
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
        last = self._key_of(self.tail[-1])
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
        self._fingerprints.clear()  # what comes again now is written again on purpose
        self._older_fingerprints.clear()
        self._lookback = 0
        self._size_honoured = False
        self.reached = 0
        self.offset = 0

    # -- listings that never end -------------------------------------------------------------

    def check_page_limit(self) -> None:
        """Called before each further request: the max_pages setting ends a stream that would go on."""
        if self.max_pages is not None and self.pages >= self.max_pages and not self.finished:
            raise PaginationError(
                f"stopped at offset {self.offset}: the stream has asked for {self.max_pages} pages "
                "(the max_pages setting) without reaching its end"
            )

    def _progress(self, offset: int, new: list[dict]) -> None:
        if new or self.finished:
            self._no_progress = 0
            return
        self._no_progress += 1
        if self._no_progress >= NO_PROGRESS_LIMIT:
            raise PaginationError(
                f"stopped at offset {offset}: {NO_PROGRESS_LIMIT} requests in a row brought no new "
                "record (the API's offsets do not behave as record offsets)"
            )

    def note_written(self, fingerprints: t.Iterable[int]) -> None:
        """The fingerprints (in-process hashes of the content) of the records just written from the
        last page accepted. Full pages in a row that bring nothing not written before mean the
        listing cycles: the stream ends instead of going round for ever."""
        current, older = self._fingerprints, self._older_fingerprints
        written = unseen = 0
        for fingerprint in fingerprints:
            written += 1
            if fingerprint not in current and fingerprint not in older:
                unseen += 1
                current.add(fingerprint)
        if not written:
            return  # a page that wrote nothing (a look-back): NO_PROGRESS_LIMIT counts those
        if len(current) >= FINGERPRINT_GENERATION:
            self._older_fingerprints, self._fingerprints = current, set()
        full = self.received >= min(self.page_size, max(self._longest, 1))
        if unseen or not full or self.finished:
            self._stale_pages = self._stale_records = 0
            return
        self._stale_pages += 1
        self._stale_records += self.received
        if self._stale_pages >= STALE_PAGE_LIMIT and self._stale_records >= STALE_RECORD_LIMIT:
            raise PaginationError(
                f"stopped at offset {self.offset}: {self._stale_pages} full pages in a row held only records "
                "already written (the listing cycles, or the API ignores the offset)"
            )
