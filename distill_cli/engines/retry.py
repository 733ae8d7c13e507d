"""When to retry an HTTP generation request, and how long to wait first.

Kept apart from the backend so the policy (which failures are transient, how Retry-After is read, how the
backoff grows) can be read and tested on its own.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

# A server that asks us to come back later than this is treated as asking for this long: a run should not
# sleep for an hour on one row because a proxy sent a silly header.
RETRY_AFTER_CAP = 600.0

# Statuses that say "this row is fine, the server is not": retried. Other 4xx are the row's own fault (a
# prompt longer than the context, a bad parameter) and become a per-row error.
RETRY_STATUSES = frozenset({408, 409, 425, 429})

# Statuses that say "the whole run is misconfigured": retrying or recording a per-row error would only repeat
# the same failure for every row, so the stage stops with one clear message instead.
FATAL_STATUSES = frozenset({401, 403, 404})


@dataclass(frozen=True)
class Retry:
    """One failed attempt that may succeed if tried again."""

    cause: str  # connect | disconnect | timeout | bad_json | http_429 | http_503 | ...
    detail: str
    retry_after: float | None = None


def is_retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (uniform in [0, min(cap, base * 2**attempt)]).

    Full jitter spreads the retries of many concurrent requests that failed together (a 503 burst), so they do
    not come back as one synchronized wave.
    """
    return rng.uniform(0.0, min(cap, base * (2.0 ** min(attempt, 62))))


def retry_delay(attempt: int, retry_after: float | None, base: float, cap: float, rng: random.Random) -> float:
    """The server's Retry-After when it sent one (never earlier), plus a little jitter; else the backoff."""
    if retry_after is not None:
        return retry_after + rng.uniform(0.0, min(base, 1.0))
    return backoff_delay(attempt, base, cap, rng)
