"""Pacing submits to the account's rate: never more than its submits per minute.

The service counts submits per account in windows that reset each minute and answers a submit
over the limit with HTTP 429 and no ``Retry-After``. Such a 429 is a refusal made before any task
exists, so a paced client waits for the window and sends the submit again: the official SDK gives
up instead, which fails a job for no reason. Pacing on this side keeps the limit from being hit
at all: a sliding window of 60 s holds at most the limit, which also satisfies any window that
resets on the minute. Every job of a process that uses one account shares one pacer.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from uprez.protocol import RATE_WINDOW

log = logging.getLogger(__name__)

# A submit is counted by the service when it arrives, a moment after its slot is taken here:
# the next one in its place waits this much longer, so a slow POST never lands inside the
# service's 60 s with a full count (the ledger's turns keep the same margin).
_SPARE = 0.5
# After a 429, wait past the service's next minute by this much (clocks differ a little).
_MARGIN = 1.0


class SubmitPacer:
    """At most ``per_minute`` submits in any 60 s (``None``: no limit), shared by threads."""

    def __init__(
        self,
        per_minute: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._hold_until = 0.0
        self._refusals = 0

    def delay(self) -> float:
        """Seconds until a submit may go; reserves the slot when that is 0."""
        with self._lock:
            now = self._clock()
            if now < self._hold_until:
                return self._hold_until - now
            if self.per_minute is None:
                return 0.0
            while self._sent and now - self._sent[0] >= RATE_WINDOW:
                self._sent.popleft()
            if len(self._sent) < self.per_minute:
                self._sent.append(now)
                return 0.0
            return RATE_WINDOW - (now - self._sent[0]) + _SPARE

    def wait_turn(self, deadline: float, sleep: Callable[[float], None]) -> float:
        """Block until a submit may go (a :func:`time.monotonic` ``deadline`` bounds it);
        return the seconds waited. ``TimeoutError`` if the turn comes after the deadline."""
        waited = 0.0
        while True:
            pause = self.delay()
            if pause <= 0:
                if waited:
                    log.info("submit paced by the account's rate: waited %.1f s", waited)
                return waited
            if self._clock() + pause > deadline:
                raise TimeoutError(pause)
            sleep(pause)
            waited += pause

    def refused(self, retry_after: float | None = None) -> float:
        """The service answered 429: hold every submit until its window has reset (or for
        ``retry_after`` seconds, when the service said); return the hold in seconds. Without a
        hint, the first refusal waits for the next minute on the wall clock, and another one in
        a row a whole minute from now, since the service's minute need not be this clock's;
        either waits at least until this process's oldest submit in the last 60 s has left a
        window that slides (the strictest reading of the service's)."""
        with self._lock:
            self._refusals += 1
            now = self._clock()
            if retry_after is not None:
                hold = retry_after
            elif self._refusals == 1:
                hold = RATE_WINDOW - self._wall() % RATE_WINDOW + _MARGIN
            else:
                hold = RATE_WINDOW + _MARGIN
            recent = [at for at in self._sent if now - at < RATE_WINDOW]
            if retry_after is None and recent:
                hold = max(hold, recent[0] + RATE_WINDOW + _SPARE - now)
            self._hold_until = max(self._hold_until, now + hold)
            return hold

    def accepted(self) -> None:
        """A submit went through: the next refusal is a first one again."""
        with self._lock:
            self._refusals = 0


_PACERS: dict[str, SubmitPacer] = {}
_PACERS_LOCK = threading.Lock()


def account_fingerprint(base_url: str, api_key: str) -> str:
    """A name for the account behind a key at a service; never the key itself."""
    digest = hashlib.sha256(f"{base_url}\n{api_key}".encode()).hexdigest()
    return digest[:16]


def pacer_for(account: str, per_minute: int | None) -> SubmitPacer:
    """The process's pacer for ``account`` (see :func:`account_fingerprint`)."""
    with _PACERS_LOCK:
        pacer = _PACERS.get(account)
        if pacer is None or pacer.per_minute != per_minute:
            pacer = _PACERS[account] = SubmitPacer(per_minute)
        return pacer
