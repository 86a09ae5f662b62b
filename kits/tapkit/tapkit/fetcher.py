"""Pages of one stream fetched with several requests in flight, delivered strictly in page order.

Offsets are predictable: after the first page we know how many records a page brings (``step``),
so the pages at ``offset + step``, ``offset + 2*step``, ... can be requested before the earlier
ones arrive. Each page is checked on arrival against the offset the paginator actually wants next (the
same ``OverlapPaginator`` as the one-at-a-time path); a page fetched at an offset that turned
out wrong (the server sent a page of another length, or the data moved) is discarded with every
later guess and the guessing restarts from the true offset. So the pages delivered, and their
order, are exactly those of the sequential path; only the waiting overlaps.
"""

from __future__ import annotations

import threading
import typing as t
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from tapkit.errors import Cancelled
from tapkit.pagination import Accepted, OverlapPaginator

if t.TYPE_CHECKING:
    from tapkit.gate import RequestGate

R = t.TypeVar("R")


def pages_in_order(
    fetch: t.Callable[[int], R],
    parse: t.Callable[[R], list[dict]],
    paginator: OverlapPaginator,
    gate: RequestGate,
    stop: threading.Event | None = None,
) -> t.Iterator[tuple[int, Accepted]]:
    """Yield ``(offset, accepted page)`` in order until the paginator is finished.

    ``fetch`` runs in page threads and should only wait (on the network); ``parse`` runs here, in
    the consuming thread: CPU work in page threads would only fight this one for the GIL.
    However this ends (the last page, an error, the consumer stopping early), pages not yet
    needed are cancelled and ``stop`` is set, so no page thread sends another request.
    """
    if paginator.finished:
        return
    try:
        yield from _pages(fetch, parse, paginator, gate)
    finally:
        if stop is not None:
            stop.set()


def _pages(
    fetch: t.Callable[[int], R],
    parse: t.Callable[[R], list[dict]],
    paginator: OverlapPaginator,
    gate: RequestGate,
) -> t.Iterator[tuple[int, Accepted]]:
    if gate.max_concurrency == 1:
        while not paginator.finished:
            paginator.check_page_limit()
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
            paginator.check_page_limit()
            while len(pending) < gate.limit:
                pending.append((next_offset, pool.submit(fetch, next_offset)))
                next_offset += step
            offset, future = pending.popleft()
            if offset != paginator.offset:  # a guess made before an odd-sized page arrived
                _discard(pending, future)
                next_offset = paginator.offset
                continue
            _wait_for(future, pending)
            yield offset, paginator.accept(offset, parse(future.result()))
            if paginator.offset != offset + step and not paginator.finished:
                _discard(pending)  # every later guess assumed pages of `step` records
                next_offset = paginator.offset
    finally:
        _discard(pending)
        pool.shutdown(wait=False, cancel_futures=True)


def _wait_for(head: Future[t.Any], pending: deque[tuple[int, Future[t.Any]]]) -> None:
    """Wait for the page at the head; a page further on that failed for good fails the stream now,
    rather than after the pages before it end their waits (a Retry-After of minutes, say)."""
    while not head.done():
        for _, other in pending:
            if other.done() and not other.cancelled():
                error = other.exception()
                if error is not None and not isinstance(error, Cancelled):
                    raise error
        wait([head, *(f for _, f in pending if not f.done())], return_when=FIRST_COMPLETED)


def _discard(pending: deque[tuple[int, Future[t.Any]]], *futures: Future[t.Any]) -> None:
    for future in (*futures, *(f for _, f in pending)):
        future.cancel()
    pending.clear()
