"""The load queue: loads run in order on one thread; the STATE hook (`on_done`) hears of a load only once it
is committed, including one committed before a later step of it failed, and nothing runs after a failure."""

from __future__ import annotations

import threading

import pytest

from loaderkit.background import LoadQueue
from loaderkit.errors import CommittedLoadError, LoadError


def _queue() -> tuple[LoadQueue, list[int]]:
    queue = LoadQueue(max_pending=1)
    done: list[int] = []
    queue.on_done = done.append
    return queue, done


def test_loads_run_in_order_and_each_is_reported_done() -> None:
    queue, done = _queue()
    ran: list[int] = []
    threads: set[str] = set()
    for n in range(1, 6):
        queue.submit(lambda n=n: (ran.append(n), threads.add(threading.current_thread().name)))
    queue.wait()
    queue.close()
    assert ran == done == [1, 2, 3, 4, 5]
    assert len(threads) == 1 and threading.current_thread().name not in threads


def test_a_load_committed_before_it_failed_is_reported_done_and_nothing_runs_after_it() -> None:
    queue, done = _queue()
    ran: list[int] = []

    def committed_then_failed() -> None:
        ran.append(2)
        raise CommittedLoadError("the rows are committed, but the checkpoint failed")

    queue.submit(lambda: ran.append(1))
    queue.submit(committed_then_failed)
    with pytest.raises(CommittedLoadError):
        queue.submit(lambda: ran.append(3))  # may be refused at once, or queued and then skipped
        queue.wait()
    queue.close()
    assert ran == [1, 2]
    assert done == [1, 2], "the STATE covering the committed load is owed"


def test_a_load_that_failed_before_its_commit_is_not_reported_done() -> None:
    queue, done = _queue()
    ran: list[int] = []

    def failed() -> None:
        raise LoadError("nothing of it committed")

    queue.submit(lambda: ran.append(1))
    queue.submit(failed)
    with pytest.raises(LoadError, match="nothing of it committed"):
        queue.submit(lambda: ran.append(3))
        queue.wait()
    queue.close()
    assert ran == [1]
    assert done == [1]
