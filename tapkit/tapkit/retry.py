"""The retry policy every API document asks for.

Retry 429, 500, 502, 503 and 504 (and dropped connections and timeouts) at most ``max_retries``
times, waiting ``backoff_factor * 2**(n-1)`` seconds before retry n (2 s, 4 s, 8 s by default), or
what the server's ``Retry-After`` header says (seconds or an HTTP date), capped so that an odd
header cannot stall a sync for hours. Everything else fails at once.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A server asking for more than this is either confused or telling us to come back tomorrow;
# waiting longer than five minutes per attempt makes a tap look hung.
RETRY_AFTER_CAP_SECONDS = 300.0
# Spread retries of concurrent clients a little, never below the computed wait.
JITTER_FRACTION = 0.1


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_factor: float = 2.0
    retry_statuses: frozenset[int] = field(default=RETRY_STATUSES)
    retry_after_cap: float = RETRY_AFTER_CAP_SECONDS

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def is_retriable(self, status: int) -> bool:
        return status in self.retry_statuses

    def backoff(self, retry_number: int) -> float:
        """Wait before retry ``retry_number`` (1-based) when the server gave no usable Retry-After."""
        return self.backoff_factor * 2 ** (retry_number - 1)

    def wait(self, retry_number: int, retry_after: str | None = None, now: datetime | None = None) -> float:
        """Seconds to wait before retry ``retry_number``: the server's Retry-After wins when it parses."""
        asked = parse_retry_after(retry_after, now) if retry_after is not None else None
        if asked is None:
            return self.backoff(retry_number)
        return min(asked, self.retry_after_cap)

    @staticmethod
    def jitter(seconds: float) -> float:
        return seconds + random.uniform(0, seconds * JITTER_FRACTION)


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
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
