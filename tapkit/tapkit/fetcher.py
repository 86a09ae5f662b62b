"""Pages of one stream fetched with several requests in flight, delivered strictly in page order.

Offsets are predictable: after the first page we know how many records a page brings (``step``),
so the pages at ``offset + step``, ``offset + 2*step``, ... can be requested before the earlier
ones arrive. Each page is checked on arrival against the offset the paginator actually wants next (the
same ``OffsetPaginator`` as the one-at-a-time path); a page fetched at an offset that turned
out wrong (the server sent a page of another length, or the data moved) is discarded with every
later guess and the guessing restarts from the true offset. So the pages delivered, and their
order, are exactly those of the sequential path; only the waiting overlaps.
"""

from __future__ import annotations

import threading
import time
import typing as t
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from tapkit.pagination import Accepted, OffsetPaginator

R = t.TypeVar("R")


class RequestGate:
    """What all requests of one tap share: a requests-per-second limit and the 429 brake.

    A 429 pauses every request of the tap for the wait the server asked for and halves the
    number of pages a stream keeps in flight; each run of successes as long as the current limit
    raises it by one again, up to ``max_concurrency``.
    """

    def __init__(self, max_concurrency: int = 1, max_requests_per_second: float | None = None) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.limit = self.max_concurrency
        self._interval = 1.0 / max_requests_per_second if max_requests_per_second else 0.0
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._paused_until = 0.0
        self._successes = 0
        self.throttle_events = 0

    def wait_turn(self) -> None:
        """Block until this request may start."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._paused_until, self._next_start)
            if self._interval:
                self._next_start = start + self._interval
        if start > now:
            time.sleep(start - now)

    def throttled(self, pause_seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + pause_seconds)
            self.limit = max(1, self.limit // 2)
            self._successes = 0
            self.throttle_events += 1

    def succeeded(self) -> None:
        with self._lock:
            self._successes += 1
            if self.limit < self.max_concurrency and self._successes >= self.limit:
                self.limit += 1
                self._successes = 0


def pages_in_order(
    fetch: t.Callable[[int], R],
    parse: t.Callable[[R], list[dict]],
    paginator: OffsetPaginator,
    gate: RequestGate,
) -> t.Iterator[tuple[int, Accepted]]:
    """Yield ``(offset, accepted page)`` in order until the paginator is finished.

    ``fetch`` runs in page threads and should only wait (on the network); ``parse`` runs here, in
    the consuming thread: CPU work in page threads would only fight this one for the GIL.
    """
    if paginator.finished:
        return
    if gate.max_concurrency == 1:
        while not paginator.finished:
            offset = paginator.offset
            yield offset, paginator.accept(offset, parse(fetch(offset)))
        return

    # The first page alone: it tells how far a page moves us (``step``).
    offset = paginator.offset
    yield offset, paginator.accept(offset, parse(fetch(offset)))
    step = paginator.offset - offset
    if step <= 0:
        step = 1
    pool = ThreadPoolExecutor(max_workers=gate.max_concurrency, thread_name_prefix="page")
    pending: deque[tuple[int, Future[R]]] = deque()
    next_offset = paginator.offset
    try:
        while not paginator.finished:
            while len(pending) < gate.limit:
                pending.append((next_offset, pool.submit(fetch, next_offset)))
                next_offset += step
            offset, future = pending.popleft()
            if offset != paginator.offset:  # a guess made before an odd-sized page arrived
                _discard(pending, future)
                next_offset = paginator.offset
                continue
            yield offset, paginator.accept(offset, parse(future.result()))
            if paginator.offset != offset + step and not paginator.finished:
                _discard(pending)  # every later guess assumed pages of `step` records
                next_offset = paginator.offset
    finally:
        _discard(pending)
        pool.shutdown(wait=False, cancel_futures=True)


def _discard(pending: deque[tuple[int, Future[t.Any]]], *futures: Future[t.Any]) -> None:
    for future in (*futures, *(f for _, f in pending)):
        future.cancel()
    pending.clear()
