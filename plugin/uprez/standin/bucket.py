"""A token bucket that many threads share: one link's bandwidth, divided among its transfers.

Each transfer pays for its bytes a chunk at a time. A payment is taken at once, even into debt,
and the payer sleeps until the debt would be repaid at the bucket's rate: transfers that pay in
small chunks take turns, so two at once each get about half the rate and together never more
than the whole. The bucket holds at most a small burst, so a link that was idle does not send a
large file at loopback speed before the rate starts to tell.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: What a transfer pays for at a time, in bytes: small enough that transfers sharing a link
#: interleave finely, large enough that the lock is taken rarely.
CHUNK = 64 * 1024


class TokenBucket:
    """``rate`` bytes a second, shared by every thread that calls :meth:`take`.

    ``burst`` (default: the larger of :data:`CHUNK` and 10 ms of the rate) is what an idle
    bucket holds. ``clock`` and ``sleep`` are the monotonic clock and the sleep used.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"a bucket's rate must be above 0, not {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(CHUNK, self.rate * 0.01)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()

    def take(self, amount: int) -> float:
        """Pay for ``amount`` bytes: wait until the link has carried them; return the wait."""
        if amount <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= amount
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait
