"""How often to ask whether a task is done: soon at first, then less and less often."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class PollSchedule:
    """Intervals between polls: ``first`` seconds, growing by ``factor`` up to ``max`` seconds,
    each shaken by ±``jitter`` (a fraction) so many clients do not poll in step; no interval
    is ever longer than ``max``.

    >>> [round(x, 2) for x in PollSchedule(first=0.5, factor=2, max=3, jitter=0).intervals(5)]
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
        pick = rng or random
        current = self.first
        produced = 0
        while count is None or produced < count:
            shake = 1 + pick.uniform(-self.jitter, self.jitter) if self.jitter else 1.0
            yield max(0.0, min(self.max, current * shake))
            current = min(self.max, current * self.factor)
            produced += 1
