"""The account's limits: submits per minute and tasks at once, by account level.

From the provider's page (its current revision; an older one said Bronze 5/min, 3 at once):
Bronze takes 2 videos a minute with 2 tasks running at once, Silver 500 a minute with 300 at once.
"Higher tiers more": the Gold figures below are a guess (twice Silver), not documented.
Going over the per-minute rate gives HTTP 429 with no ``Retry-After`` and creates no task. The
provider says only that "limits reset every minute"; the twin must be as strict as any reading
of that, so it counts a sliding 60 s (at most the limit in any 60 s): every fixed minute is
such an interval, so a client that gets through here gets through a window that resets on the
minute too. Tasks over the concurrency limit wait in the queue.
``unlimited`` is not a real level: it exists for benchmarks, where the service's limits must
not count.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from uprez.protocol import RATE_WINDOW


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
    """Admits at most ``limit`` submits in any :data:`RATE_WINDOW` seconds of ``clock`` (None: no
    limit) and counts the submits it refuses (:attr:`refused`).

    A submit refused at ``t`` is admitted once the oldest submit still counted is 60 s old:
    at that submit's time + 60, not at the next minute.
    """

    def __init__(self, limit: int | None, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        # When the submits of the last RATE_WINDOW seconds were admitted, oldest first.
        self._admitted: deque[float] = deque()
        self.refused = 0

    def admit(self) -> bool:
        """Count one submit if the window has room; False (and nothing counted) if not."""
        with self._lock:
            if self._limit is None:
                return True
            now = self._clock()
            while self._admitted and now - self._admitted[0] >= RATE_WINDOW:
                self._admitted.popleft()
            if len(self._admitted) >= self._limit:
                self.refused += 1
                return False
            self._admitted.append(now)
            return True
