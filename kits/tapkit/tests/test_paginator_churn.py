"""The paginator against simulated servers whose data moves between requests (pure, no HTTP).

A server is a list of ids in a stable order; between requests it deletes and inserts records at
random positions. Whatever the pattern, every record present for the whole sync must be written
(at least once), and without churn every record exactly once.
"""

from __future__ import annotations

import random

import pytest

from tapkit.pagination import OverlapPaginator


class MovingServer:
    def __init__(self, size: int, seed: int, churn: float, clamp: int | None, burst: int = 3):
        self.rng = random.Random(seed)
        self.data = [10 * i for i in range(1, size + 1)]
        self.present_throughout = set(self.data)
        self.churn, self.clamp, self.burst = churn, clamp, burst
        self.next_id = 10 * size + 5
        self.requests = 0

    def page(self, offset: int, limit: int) -> list[dict]:
        self.requests += 1
        size = min(limit, self.clamp) if self.clamp else limit
        page = [{"id": i} for i in self.data[offset : offset + size]]
        if self.rng.random() < self.churn:
            self.move()
        return page

    def move(self) -> None:
        for _ in range(self.rng.randint(1, self.burst)):
            if self.data and self.rng.random() < 0.5:
                gone = self.data.pop(self.rng.randrange(len(self.data)))
                self.present_throughout.discard(gone)
            else:
                self.data.insert(self.rng.randrange(len(self.data) + 1), self.next_id)
                self.next_id += 1


def sync(server: MovingServer, page_size: int, overlap: int) -> list:
    paginator = OverlapPaginator(page_size, overlap=overlap)
    written: list = []
    while not paginator.finished:
        assert server.requests < 10_000, "paging does not end"
        offset = paginator.offset
        written += [r["id"] for r in paginator.accept(offset, server.page(offset, page_size)).records]
    return written


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize(("page_size", "clamp"), [(20, None), (100, 30), (10, None)])
def test_no_record_present_throughout_is_skipped(seed, page_size, clamp):
    server = MovingServer(400, seed, churn=0.4, clamp=clamp)
    written = sync(server, page_size, overlap=1)
    assert server.present_throughout <= set(written)


@pytest.mark.parametrize("seed", range(10))
def test_big_bursts_are_followed_by_looking_back_or_starting_over(seed):
    # Bursts larger than a page move the anchors out of reach of the overlap.
    server = MovingServer(300, seed, churn=0.3, clamp=None, burst=40)
    written = sync(server, 20, overlap=2)
    assert server.present_throughout <= set(written)


def test_without_overlap_churn_skips_records():
    # The control: the same servers, paged by plain offsets, lose records.
    lost = 0
    for seed in range(10):
        server = MovingServer(400, seed, churn=0.4, clamp=None)
        lost += len(server.present_throughout - set(sync(server, 20, overlap=0)))
    assert lost > 0


@pytest.mark.parametrize("overlap", [0, 1, 5])
@pytest.mark.parametrize("clamp", [None, 7, 1])
def test_static_data_exactly_once(overlap, clamp):
    server = MovingServer(253, 0, churn=0.0, clamp=clamp)
    assert sync(server, 20, overlap=overlap) == server.data


def test_anchors_all_deleted_means_starting_over():
    data = [{"id": i} for i in range(100)]
    events: list[str] = []
    paginator = OverlapPaginator(20, overlap=1, events=events.append)
    first = paginator.accept(0, data[:20]).records
    del data[:20]  # everything written so far is gone
    written = list(first)
    while not paginator.finished:
        offset = paginator.offset
        written += paginator.accept(offset, data[offset : offset + 20]).records
    assert {r["id"] for r in written} == set(range(100))
    assert any("starting the stream over" in e for e in events)
