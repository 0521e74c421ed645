"""The service's billing rule: whole seconds, rounded down, with a minimum, at a price per second.

Money is :class:`decimal.Decimal` throughout, never a float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class PriceRule:
    """How a video's duration turns into money.

    >>> PriceRule().cost(60.4)
    Decimal('1.20')
    """

    per_second: Decimal = Decimal("0.02")
    minimum_seconds: int = 5

    def billed_seconds(self, duration: float) -> int:
        """Seconds billed for a video of ``duration`` seconds: floor, at least the minimum."""
        if duration < 0 or math.isnan(duration):
            raise ValueError(f"a duration cannot be {duration!r}")
        return max(math.floor(duration), self.minimum_seconds)

    def cost(self, duration: float) -> Decimal:
        """What one video of ``duration`` seconds costs, in dollars, to the cent."""
        return (self.per_second * self.billed_seconds(duration)).quantize(CENT, ROUND_HALF_UP)
