"""When to try an idempotent request again, and how long to wait first.

Capped exponential backoff with full jitter; a server's ``Retry-After`` (seconds or HTTP-date)
wins when it asks for longer, up to a cap beyond which waiting is the caller's decision.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header; ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry an idempotent call, and the waits in between.

    >>> RetryPolicy(attempts=3).attempts
    3
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 8.0
    retry_after_cap: float = 60.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """The wait before retry number ``attempt`` (1-based): full jitter under a growing cap."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        jittered = (rng or random).uniform(0, ceiling)
        if retry_after is not None:
            return max(jittered, min(retry_after, self.retry_after_cap))
        return jittered
