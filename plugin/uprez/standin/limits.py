"""The account's limits: submits per minute and tasks at once, by account level.

From the provider's page (its current revision; an older one said Bronze 5/min, 3 at once):
Bronze takes 2 videos a minute with 2 tasks running at once, Silver 500 a minute with 300 at once.
"Higher tiers more": the Gold figures below are a guess (twice Silver), not documented.
Going over the per-minute rate gives HTTP 429 with no ``Retry-After`` and creates no task; the
window resets each wall-clock minute. Tasks over the concurrency limit wait in the queue.
``unlimited`` is not a real level: it exists for benchmarks, where the service's limits must
not count.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class AccountLevel:
    """What one account level allows (None: no limit)."""

    submits_per_minute: int | None
    concurrent_tasks: int | None


LEVELS: dict[str, AccountLevel] = {
    "bronze": AccountLevel(submits_per_minute=2, concurrent_tasks=2),
    "silver": AccountLevel(submits_per_minute=500, concurrent_tasks=300),
    "gold": AccountLevel(submits_per_minute=1000, concurrent_tasks=600),  # a guess
    "unlimited": AccountLevel(submits_per_minute=None, concurrent_tasks=None),
}


class MinuteWindow:
    """Counts submits in the current wall-clock minute of ``clock`` and refuses over ``limit``."""

    def __init__(self, limit: int | None, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._minute = -1
        self._count = 0
        self.refused = 0

    def admit(self) -> bool:
        """Count one submit if the window has room; False (and nothing counted) if not."""
        with self._lock:
            minute = int(self._clock() // 60)
            if minute != self._minute:
                self._minute, self._count = minute, 0
            if self._limit is not None and self._count >= self._limit:
                self.refused += 1
                return False
            self._count += 1
            return True
