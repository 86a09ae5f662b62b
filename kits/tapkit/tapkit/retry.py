"""The retry policy every API document asks for, with every wait bounded.

Retry 429, 500, 502, 503 and 504 (and dropped connections and timeouts) at most ``max_retries``
times, waiting ``backoff_factor * 2**(n-1)`` seconds before retry n (2 s, 4 s, 8 s by default) plus a
little jitter, never more than ``max_backoff`` in all; or, when the server sends ``Retry-After``
(seconds or an HTTP date), what it asks for, up to ``max_retry_after``. A server that asks for longer
is not waited for: the caller ends the stream and names the setting. Everything else fails at once.

``send_with_retries`` is the loop that applies it to one request: every wait in it (backoff, Retry-After,
the rate gate, a 429 pause) ends at once when the sync stops, and its messages count the attempts made.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import requests

from tapkit.errors import Cancelled, RetriableResponseError, RetriesExhaustedError

if t.TYPE_CHECKING:
    import keyguard
    from tapkit.gate import RequestGate

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_MAX_BACKOFF_SECONDS = 60.0
# A server asking for more than this is either confused or telling us to come back tomorrow:
# waiting longer per attempt makes a tap look hung, so the stream ends with a clear error instead.
DEFAULT_MAX_RETRY_AFTER_SECONDS = 300.0
# Spread retries of concurrent clients a little, never below the computed wait nor above a cap.
JITTER_FRACTION = 0.1
# What counts as a failed attempt worth another: a dropped connection, a timeout, a body cut short.
TRANSIENT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)


@dataclass(frozen=True)
class Wait:
    """What to do before the next attempt: ``seconds`` to wait, and what the server asked for."""

    seconds: float
    asked: float | None = None  # the server's Retry-After in seconds, when it sent a usable one
    too_long: bool = False  # the server asked for more than max_retry_after: do not wait, fail


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_factor: float = 2.0
    max_backoff: float = DEFAULT_MAX_BACKOFF_SECONDS
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER_SECONDS
    retry_statuses: frozenset[int] = field(default=RETRY_STATUSES)

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def is_retriable(self, status: int) -> bool:
        return status in self.retry_statuses

    def backoff(self, retry_number: int) -> float:
        """Wait before retry ``retry_number`` (1-based) when the server gave no usable Retry-After."""
        try:
            seconds = self.backoff_factor * 2 ** (retry_number - 1)
        except OverflowError:
            seconds = math.inf
        return min(seconds, self.max_backoff)

    def wait(self, retry_number: int, retry_after: str | None = None, now: datetime | None = None) -> Wait:
        """Before retry ``retry_number``: the server's Retry-After wins when it parses."""
        asked = parse_retry_after(retry_after, now) if retry_after is not None else None
        if asked is None:
            return Wait(self.jitter(self.backoff(retry_number), self.max_backoff))
        if asked > self.max_retry_after:
            return Wait(0.0, asked, too_long=True)
        return Wait(self.jitter(asked, self.max_retry_after), asked)

    @staticmethod
    def jitter(seconds: float, cap: float) -> float:
        """``seconds`` plus up to 10 %, never above ``cap`` (nor below ``seconds``)."""
        return max(seconds, min(seconds + random.uniform(0, seconds * JITTER_FRACTION), cap))


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header value, or None when it says nothing usable.

    Accepts delta-seconds (also fractional, which some servers send) and HTTP dates; a date in the
    past means "now". Negative, non-finite or unparsable values are ignored.
    """
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class Attempts:
    """How the requests of one page loop are retried: the policy, the tap's rate gate, the loop's stop
    event, and where the lines go, masked."""

    policy: RetryPolicy
    gate: RequestGate
    stop: threading.Event
    redact: keyguard.Redactor
    log: logging.Logger


def send_with_retries(
    attempt: t.Callable[[], requests.Response], attempts: Attempts, where: t.Callable[[], str]
) -> requests.Response:
    """``attempt()`` until it returns a response, as often as the policy allows; ``where()`` names the
    request in the lines about it."""
    gate = attempts.gate
    number = 0
    while True:
        number += 1
        gate.wait_turn(attempts.stop)
        try:
            response = attempt()
        except RetriableResponseError as exc:
            failed, why = exc.response, str(exc)
            short = f"HTTP {failed.status_code}" if failed is not None else why
        except TRANSIENT_ERRORS as exc:
            failed, short = None, type(exc).__name__
            why = f"{short}: {attempts.redact(str(exc))}"
        else:
            gate.succeeded()
            return response
        _wait_or_give_up(attempts, where(), failed, short, why, number)


def _wait_or_give_up(
    attempts: Attempts, where: str, response: requests.Response | None, short: str, why: str, attempt: int
) -> None:
    """Wait before the next attempt (the line says ``short``), or raise (``why``) when none is left."""
    policy = attempts.policy
    tried = "1 attempt" if attempt == 1 else f"{attempt} attempts"
    if attempt >= policy.max_attempts:
        raise RetriesExhaustedError(f"{where} failed after {tried}: {why}")
    retry_after = response.headers.get("Retry-After") if response is not None else None
    wait = policy.wait(attempt, retry_after)
    if wait.too_long:
        raise RetriesExhaustedError(
            f"{where} failed after {tried}: {why}; the server asks to wait {wait.asked:.0f} s "
            f"(Retry-After: {retry_after}), more than max_retry_after_seconds "
            f"({policy.max_retry_after:g}): not waiting that long"
        )
    if response is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
        attempts.gate.throttled(wait.seconds)
    asked = (
        ""
        if wait.asked is None
        else f" (the server asked for {wait.asked:.1f} s: Retry-After: {retry_after})"
    )
    attempts.log.warning(
        "%s: %s; retry %d of %d in %.1f s%s", where, short, attempt, policy.max_retries, wait.seconds, asked
    )
    if attempts.stop.wait(wait.seconds):
        raise Cancelled("the sync is stopping: no retry")
