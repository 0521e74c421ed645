"""How often to ask whether a task is done.

With no history, soon at first and then less and less often (:class:`PollSchedule`). With an
estimate of how long the service takes (:mod:`uprez.wavespeed.eta`), :class:`Poller` sleeps until
just after the earliest the task can be done, checking in every ``max`` seconds on the way so a
failure is not noticed late, and then asks at short intervals until it is.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from uprez import protocol
from uprez.wavespeed.eta import Estimate, Work


@dataclass(frozen=True)
class PollSchedule:
    """Intervals between polls: ``first`` seconds, growing by ``factor`` up to ``max`` seconds,
    each shaken by ±``jitter`` (a fraction) so many clients do not poll in step; no interval
    is ever longer than ``max``.

    >>> [round(x, 2) for x in PollSchedule(first=0.5, factor=2, max=3.0, jitter=0).intervals(5)]
    [0.5, 1.0, 2.0, 3.0, 3.0]
    """

    first: float = 0.25
    factor: float = 1.5
    max: float = 5.0
    jitter: float = 0.2

    def intervals(
        self, count: int | None = None, rng: random.Random | None = None
    ) -> Iterator[float]:
        """The waits, one per poll (endless unless ``count`` is given)."""
        pick = rng or random.Random()
        current = self.first
        produced = 0
        while count is None or produced < count:
            yield max(0.0, min(self.max, current * self.shake(pick)))
            current = min(self.max, current * self.factor)
            produced += 1

    def shake(self, rng: random.Random) -> float:
        """A factor within ±``jitter`` of 1."""
        return 1 + rng.uniform(-self.jitter, self.jitter) if self.jitter else 1.0


# Once past the earliest time, polls come this often: the lateness the benchmark allows (the
# larger of half a second and 5% of the task), so a missed guess costs at most that.
_MIN_TOLERANCE = 0.5
_TOLERANCE_SHARE = 0.05
# The first poll goes this share of a step after the earliest time, so that a task finishing
# exactly on time is seen by the first poll instead of just missed by it (and found a step later).
_GUARD_SHARE = 0.2


class Poller:
    """When to ask next, given what the last answer said; it also keeps the facts a finished
    task's duration is learned from (when it was last seen unfinished, how many polls it took).

    Without an ``estimate`` it follows ``schedule``, asking at once first (a resumed task may be
    done already). With one, measured from ``start`` (a :func:`time.monotonic` time just after
    the submit), it waits for ``estimate.earliest``; a task still queued (``created``) moves
    that wait on, since its processing has not begun.

    >>> p = Poller(PollSchedule(max=5, jitter=0), Estimate(expected=2.0, earliest=2.0), start=0)
    >>> p.next_wait(0.0, None), p.next_wait(2.1, "processing"), p.next_wait(2.6, "processing")
    (2.1, 0.5, 0.5)
    """

    def __init__(
        self,
        schedule: PollSchedule,
        estimate: Estimate | None = None,
        *,
        start: float = 0.0,
        rng: random.Random | None = None,
        work: Work | None = None,
        lookup: Callable[[], Estimate | None] | None = None,
    ) -> None:
        self.schedule = schedule
        self.estimate = estimate
        # Asked for an estimate while there is none: a sibling segment that finishes first
        # tells the others when to expect theirs.
        self._lookup = lookup
        # What the task asks of the service, if it was submitted just now (so it can be learned).
        self.work = work
        self.start = start
        self.polls = 0
        self.last_pending = start
        self._anchor = start
        self._rng = rng or random.Random()
        self._intervals = schedule.intervals(rng=self._rng)

    def next_wait(self, now: float, status: str | None) -> float:
        """Seconds to sleep before the next poll; ``status`` is the last answer's (None before
        the first poll). Counting polls and unfinished sightings happens here too."""
        if status is not None:
            self.polls += 1
            self.last_pending = now
        if self.estimate is None and self._lookup is not None and status is not None:
            self.estimate = self._lookup()
        if self.estimate is None:
            return 0.0 if status is None else next(self._intervals)
        if status == protocol.CREATED:
            self._anchor = now  # queued: its processing starts no earlier than now
        tolerance = max(_MIN_TOLERANCE, _TOLERANCE_SHARE * self.estimate.expected)
        step = min(self.schedule.max, tolerance)
        target = self._anchor + self.estimate.earliest + _GUARD_SHARE * step
        if now < target:
            checkpoint = self.schedule.max * min(1.0, self.schedule.shake(self._rng))
            return min(target - now, checkpoint)
        return step

    def service_seconds(self, noticed: float, inference_ms: int | None) -> float:
        """How long the finished task took the service, for learning: the service's own
        ``timings.inference`` when it is plausible, else the middle of what the polls bracket
        (it was still running at the last unfinished answer and done at ``noticed``)."""
        upper = noticed - self.start
        lower = min(self.last_pending - self.start, upper)
        if inference_ms is not None and 0 < inference_ms / 1000 <= upper:
            return inference_ms / 1000
        return (lower + upper) / 2
