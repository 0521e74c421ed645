"""The ledger against the service's own list of the account's tasks: what one knows and the
other does not.

A task the service lists but the ledger does not know was paid for by a machine that does not
write to this ledger, or its submit's answer was lost (the ledger then holds a charge still
``submitting``, with no task id). A ledger task the listing does not show was created outside
the window as the service's clock saw it, deleted, or made on another account. Pure: the caller
lists and reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uprez.protocol import RETENTION_SECONDS

if TYPE_CHECKING:
    from uprez.wavespeed.listing import ListedTask

#: The service deletes tasks this long after they are made, so a window reaching further back
#: would report every older ledger task as missing. A margin keeps off the edge, where a task
#: may be deleted between the listing and the reading of the ledger.
RETENTION_MARGIN = 3600.0


@dataclass(frozen=True)
class Reconciliation:
    """What the ledger and the service's listing disagree on."""

    #: Listed by the service, unknown to the ledger (newest first, as listed).
    unknown: tuple[ListedTask, ...]
    #: Task ids on the ledger that the listing does not show, sorted.
    missing: tuple[str, ...]
    listed: int
    on_ledger: int

    def to_json(self) -> dict[str, Any]:
        """``{"listed", "on_ledger", "unknown": [{id, model, status, created_at}], "missing"}``."""
        return {
            "listed": self.listed,
            "on_ledger": self.on_ledger,
            "unknown": [
                {"id": t.id, "model": t.model, "status": t.status, "created_at": t.created_at}
                for t in self.unknown
            ],
            "missing": list(self.missing),
        }


def reconcile(ledger_task_ids: set[str], listed: Iterable[ListedTask]) -> Reconciliation:
    """Compare the task ids the ledger holds for a window with the tasks the service lists
    for the same window."""
    tasks = list(listed)
    shown = {task.id for task in tasks}
    return Reconciliation(
        unknown=tuple(task for task in tasks if task.id not in ledger_task_ids),
        missing=tuple(sorted(ledger_task_ids - shown)),
        listed=len(shown),
        on_ledger=len(ledger_task_ids),
    )


def window_start(since: float, now: float) -> float:
    """Where a reconciliation asked to start at ``since`` can start: no earlier than the
    service still keeps tasks (7 days, less :data:`RETENTION_MARGIN`)."""
    return max(since, now - RETENTION_SECONDS + RETENTION_MARGIN)
