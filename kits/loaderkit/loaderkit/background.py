"""Loads on one background thread, in order, while the main thread goes on reading messages.

The databases do a load's work in C with the GIL released, so reading and spooling the next records
overlaps the load of the last batch. Nothing is lost to the overlap: STATE is written only after
`wait()` (every load submitted so far committed), or by `on_done` for a load just committed, and after
a failed load no later one runs.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from loaderkit.errors import CommittedLoadError

# Loads waiting or running at once: bounds the spool files on disk while the database catches up.
MAX_PENDING = 2


class LoadQueue:
    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self._executor: ThreadPoolExecutor | None = None
        self._pending: collections.deque[Future[None]] = collections.deque()
        self._failure: BaseException | None = None
        self.submitted = 0  # jobs submitted so far; the n-th job is job n
        # Called on the load thread with n once job n (and so every job before it) has succeeded.
        self.on_done: Callable[[int], None] | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` after every job submitted before it; first report an earlier failure, if any."""
        self._raise_failure()
        while len(self._pending) >= self.max_pending:
            self._pending.popleft().result()
            self._raise_failure()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loaderkit-load")
        self.submitted += 1
        self._pending.append(self._executor.submit(self._run, job, self.submitted))

    def _run(self, job: Callable[[], None], number: int) -> None:
        if self._failure is not None:  # after a failed load nothing more is committed
            return
        try:
            job()
        except CommittedLoadError as exc:  # committed, then a later step failed
            self._failure = exc
            self._done(number)
        except BaseException as exc:
            self._failure = exc
        else:
            self._done(number)

    def _done(self, number: int) -> None:
        if self.on_done is None:
            return
        try:
            self.on_done(number)
        except BaseException as exc:
            self._failure = self._failure or exc

    def wait(self) -> None:
        """Return once every submitted job is done; raise the first failure."""
        while self._pending:
            self._pending.popleft().result()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Let the running job finish (its failure, if any, was or will not be reported) and stop."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._pending.clear()
