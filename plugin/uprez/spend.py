"""What the ledger's charges add up to, grouped by project, user, day or model; and the sums
as JSON, CSV and a terminal table.

Pure: it takes the charges (one per task uprez submitted) and returns figures; reading the
ledger is the caller's business. A refunded charge (its task failed, and the service gives the
money back) costs nothing, so it is left out of every figure. A charge still ``submitting``
(sent, no answer yet) is counted: the task may exist and be paid for, and a report that errs
should err on the side of money spent. Money is :class:`~decimal.Decimal` to the cent, never a
float.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from uprez.billing import CENT

#: The ways a report can group charges (``uprez spend --by``).
GROUPINGS = ("project", "user", "day", "model")
#: The state of a charge whose task failed and was refunded, or whose submit made no task.
REFUNDED = "refunded"
#: The state of a charge whose submit has had no answer yet.
SUBMITTING = "submitting"
#: The key of charges that do not say (no project, no user, no model).
UNNAMED = "(none)"
TOTAL = "total"


class ChargeLike(Protocol):
    """One row of the ledger's ``charges``: a task uprez submitted, who for, and its price
    (:class:`uprez.journal.charges.Charge` has these fields)."""

    @property
    def id(self) -> str: ...
    @property
    def job_key(self) -> str: ...
    @property
    def idx(self) -> int: ...
    @property
    def task_id(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def account(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def project(self) -> str | None: ...
    @property
    def user_name(self) -> str | None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def billed_seconds(self) -> int: ...
    @property
    def cost(self) -> Decimal: ...
    @property
    def created(self) -> float: ...


@dataclass(frozen=True)
class SpendLine:
    """One group's sums: how many tasks were paid for, their billed seconds and their cost."""

    key: str
    tasks: int
    billed_seconds: int
    cost: Decimal


def utc_day(moment: float) -> str:
    """The UTC calendar date of ``moment`` (unix seconds), as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(moment, UTC).date().isoformat()


def _named(value: str | None) -> str:
    return value or UNNAMED


_KEYS: dict[str, Callable[[ChargeLike], str]] = {
    "project": lambda charge: _named(charge.project),
    "user": lambda charge: _named(charge.user_name),
    "model": lambda charge: _named(charge.model),
    "day": lambda charge: utc_day(charge.created),
}


def cents(amount: Decimal) -> Decimal:
    """``amount`` to the cent (half up), as every figure of a report is shown."""
    return amount.quantize(CENT, ROUND_HALF_UP)


def summarize(charges: Iterable[ChargeLike], by: str) -> list[SpendLine]:
    """The charges' sums per ``by`` (one of :data:`GROUPINGS`; ``day`` is the UTC date of
    ``created``), sorted by key; refunded charges count for nothing and make no line."""
    if by not in _KEYS:
        raise ValueError(f"cannot group charges by {by!r}; choose one of {', '.join(GROUPINGS)}")
    key_of = _KEYS[by]
    sums: dict[str, tuple[int, int, Decimal]] = {}
    for charge in charges:
        if charge.state == REFUNDED:
            continue
        key = key_of(charge)
        tasks, seconds, cost = sums.get(key, (0, 0, Decimal(0)))
        sums[key] = (tasks + 1, seconds + charge.billed_seconds, cost + charge.cost)
    return [
        SpendLine(key, tasks, seconds, cents(cost))
        for key, (tasks, seconds, cost) in sorted(sums.items())
    ]


def total(lines: Iterable[SpendLine]) -> SpendLine:
    """The sum of ``lines``, keyed ``total``."""
    tasks = seconds = 0
    cost = Decimal(0)
    for line in lines:
        tasks += line.tasks
        seconds += line.billed_seconds
        cost += line.cost
    return SpendLine(TOTAL, tasks, seconds, cents(cost))


def _line_json(line: SpendLine, by: str) -> dict[str, Any]:
    return {
        by: line.key,
        "tasks": line.tasks,
        "billed_seconds": line.billed_seconds,
        "cost": str(line.cost),
    }


def to_json(lines: Sequence[SpendLine], by: str) -> dict[str, Any]:
    """``{"by", "currency", "lines": [{<by>, tasks, billed_seconds, cost}], "total": {...}}``,
    costs as decimal strings (``"0.10"``) so that no figure passes through a float."""
    summed = total(lines)
    return {
        "by": by,
        "currency": "USD",
        "lines": [_line_json(line, by) for line in lines],
        "total": {k: v for k, v in _line_json(summed, by).items() if k != by},
    }


def to_csv(lines: Sequence[SpendLine], by: str) -> str:
    """A CSV text: the header ``<by>,tasks,billed_seconds,cost``, a row per line, then a row
    keyed ``total``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([by, "tasks", "billed_seconds", "cost"])
    for line in [*lines, total(lines)]:
        writer.writerow([line.key, line.tasks, line.billed_seconds, str(line.cost)])
    return out.getvalue()


def to_table(lines: Sequence[SpendLine], by: str) -> str:
    """A plain-text table for a terminal: a row per line, a rule, then the total."""
    header = (by, "tasks", "billed s", "USD")
    rows = [
        (line.key, str(line.tasks), str(line.billed_seconds), str(line.cost))
        for line in [*lines, total(lines)]
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def shown(row: tuple[str, str, str, str]) -> str:
        key, *numbers = row
        cells = [key.ljust(widths[0])]
        cells += [number.rjust(width) for number, width in zip(numbers, widths[1:], strict=True)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([shown(header), rule, *map(shown, rows[:-1]), rule, shown(rows[-1])])
