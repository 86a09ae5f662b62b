"""What all requests of one tap share: the rate limit and the 429 brake."""

from __future__ import annotations

import threading
import time
import typing as t

from tapkit.errors import Cancelled

LONG_WAIT_SECONDS = 1.0  # waits longer than this are logged


class RequestGate:
    """What all requests of one tap share: a requests-per-second limit and the 429 brake.

    A 429 pauses every request of the tap for the wait the server asked for and halves the
    number of pages a stream keeps in flight; each run of successes as long as the current limit
    raises it by one again, up to ``max_concurrency``. Every wait can be cut short by a stop event
    (the sync failed or is stopping), and a wait over a second is told through ``log``.
    """

    def __init__(
        self,
        max_concurrency: int = 1,
        max_requests_per_second: float | None = None,
        log: t.Callable[[str], None] | None = None,
    ) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.limit = self.max_concurrency
        self.max_requests_per_second = max_requests_per_second
        self._interval = 1.0 / max_requests_per_second if max_requests_per_second else 0.0
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._paused_until = 0.0
        self._pause_told = True
        self._successes = 0
        self.throttle_events = 0
        self._log = log or (lambda message: None)

    def wait_turn(self, stop: threading.Event | None = None) -> None:
        """Block until this request may start; raise Cancelled if ``stop`` is set meanwhile."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._paused_until, self._next_start)
            if self._interval:
                self._next_start = start + self._interval
            paused = self._paused_until > now
            tell_pause = paused and not self._pause_told
            if tell_pause:
                self._pause_told = True
        delay = start - now
        if delay > LONG_WAIT_SECONDS:
            if tell_pause:
                self._log(f"all requests paused for {self._paused_until - now:.1f} s after HTTP 429")
            elif not paused:
                self._log(
                    f"waiting {delay:.1f} s for the rate limit "
                    f"(max_requests_per_second: {self.max_requests_per_second:g})"
                )
        if delay > 0:
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                raise Cancelled("the sync is stopping: request not sent")
        if stop is not None and stop.is_set():
            raise Cancelled("the sync is stopping: request not sent")

    def throttled(self, pause_seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + pause_seconds)
            self._pause_told = False
            self.limit = max(1, self.limit // 2)
            self._successes = 0
            self.throttle_events += 1

    def succeeded(self) -> None:
        with self._lock:
            self._successes += 1
            if self.limit < self.max_concurrency and self._successes >= self.limit:
                self.limit += 1
                self._successes = 0
