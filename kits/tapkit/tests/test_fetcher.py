"""The concurrent page scheduler and the request gate, without HTTP."""

from __future__ import annotations

import random
import threading
import time

import pytest

from tapkit.fetcher import pages_in_order
from tapkit.gate import RequestGate
from tapkit.pagination import OverlapPaginator


class IrregularServer:
    """Pages of seeded, irregular length, never the 20 asked for (a clamp that varies, or a server that
    sends more), fetched from several threads."""

    def __init__(self, size: int, seed: int):
        self.data = [{"id": i} for i in range(size)]
        self.seed = seed
        self.lock = threading.Lock()
        self.requests: list[int] = []

    def fetch(self, offset: int) -> list[dict]:
        with self.lock:
            self.requests.append(offset)
        time.sleep(0.001)
        length = random.Random(self.seed * 100_003 + offset).choice([13, 13, 13, 7, 25])
        return self.data[offset : offset + length]


def delivered(server: IrregularServer, concurrency: int, overlap: int) -> list:
    paginator = OverlapPaginator(20, overlap=overlap)
    gate = RequestGate(max_concurrency=concurrency)
    return [r["id"] for _, page in pages_in_order(server.fetch, list, paginator, gate) for r in page.records]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("overlap", [0, 1])
def test_pages_in_flight_deliver_what_one_at_a_time_delivers(seed, overlap):
    one_at_a_time = IrregularServer(537, seed)
    sequential = delivered(one_at_a_time, 1, overlap)
    assert sequential == list(range(537))
    server = IrregularServer(537, seed)
    assert delivered(server, 8, overlap) == sequential
    # every page the sequential path needs wastes at most the other 7 guesses in flight
    assert len(server.requests) <= 8 * len(one_at_a_time.requests)


def test_a_failing_page_fails_the_stream_in_order():
    def fetch(offset: int) -> list[dict]:
        if offset == 60:
            raise RuntimeError("page 60 failed")
        return [{"id": i} for i in range(offset, min(offset + 20, 200))]

    got: list[int] = []
    with pytest.raises(RuntimeError, match="page 60"):
        for _, page in pages_in_order(fetch, list, OverlapPaginator(20), RequestGate(max_concurrency=4)):
            got += [r["id"] for r in page.records]
    assert got == list(range(60))  # everything before the failed page, nothing after it


def test_rate_limit_spaces_requests():
    gate = RequestGate(max_concurrency=4, max_requests_per_second=50)
    started = time.monotonic()
    for _ in range(11):
        gate.wait_turn()
    assert time.monotonic() - started >= 10 / 50 * 0.95


def test_429_pauses_every_request_and_halves_then_regrows_the_pages_in_flight():
    gate = RequestGate(max_concurrency=8)
    gate.throttled(0.3)
    assert gate.limit == 4
    started = time.monotonic()
    gate.wait_turn()
    assert time.monotonic() - started >= 0.25
    gate.throttled(0.0)
    assert gate.limit == 2
    for _ in range(2 + 3 + 4 + 5 + 6 + 7):
        gate.succeeded()
    assert gate.limit == 8 and gate.throttle_events == 2
