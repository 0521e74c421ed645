"""The ``charges`` table: one row per task this ledger's users submitted, with what it costs,
for whom (project, user) and from where; what ``uprez spend`` reports and budgets count.

A charge is written just before its submit (``submitting``), so a budget counts a task whose
answer was lost too; it becomes ``submitted`` with the task id, and ``refunded`` when the task
failed (the service refunds it) or the submit is known to have made no task.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from uprez.journal.database import Database
from uprez.journal.engine import Session
from uprez.journal.leases import HOST

_COLUMNS = (
    "id, job_key, idx, task_id, state, account, model, project, user_name, host, "
    "billed_seconds, cost, created"
)


@dataclass(frozen=True)
class Charge:
    """One task's charge."""

    id: str
    job_key: str
    idx: int
    task_id: str | None
    state: str
    account: str
    model: str
    project: str
    user_name: str
    host: str
    billed_seconds: int
    cost: Decimal
    created: float


@dataclass(frozen=True)
class Payer:
    """Who a job's tasks are charged to, and at what price per task (by segment)."""

    account: str
    model: str
    project: str
    user: str
    reservation: str | None = None


class Charges(Database):
    """The ledger's charges."""

    def charge(self, key: str, idx: int, payer: Payer, billed_seconds: int, cost: Decimal) -> str:
        """Record the task about to be submitted for segment ``idx``; its reservation (if
        any) shrinks by the same amount, so the budget's total stays what was reserved."""
        charge_id = secrets.token_hex(8)
        with self._write() as db:
            db.execute(
                f"INSERT INTO charges ({_COLUMNS}, reservation) "
                "VALUES (?, ?, ?, NULL, 'submitting', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    charge_id,
                    key,
                    idx,
                    payer.account,
                    payer.model,
                    payer.project,
                    payer.user,
                    HOST,
                    billed_seconds,
                    str(cost),
                    db.now(),
                    payer.reservation,
                ),
            )
            if payer.reservation is not None:
                _draw(db, payer.reservation, cost)
        return charge_id

    def charge_made(self, key: str, idx: int, task_id: str) -> bool:
        """The segment's pending charge got its task; False when none was pending (the task
        was found by someone who did not charge it)."""
        with self._write() as db:
            pending = db.execute(
                "SELECT id FROM charges WHERE job_key = ? AND idx = ? AND state = 'submitting' "
                "ORDER BY created DESC",
                (key, idx),
            ).fetchall()
            if not pending:
                known = db.execute("SELECT 1 FROM charges WHERE task_id = ?", (task_id,)).fetchone()
                return known is not None
            db.execute(
                "UPDATE charges SET state = 'submitted', task_id = ? WHERE id = ?",
                (task_id, pending[0][0]),
            )
            for (other,) in pending[1:]:  # earlier attempts that made nothing
                db.execute("UPDATE charges SET state = 'refunded' WHERE id = ?", (other,))
        return True

    def charge_unmade(self, key: str, idx: int) -> None:
        """The segment's pending charges made no task (refused, or not listed after a lost
        claim): they cost nothing."""
        with self._write() as db:
            refund_pending(db, key, idx)

    def charge_refunded(self, task_id: str) -> None:
        """The task failed: the service refunds it."""
        with self._write() as db:
            db.execute("UPDATE charges SET state = 'refunded' WHERE task_id = ?", (task_id,))

    def settle(self, task_ids: Sequence[str], by: str) -> set[str]:
        """The result ``by`` names (a host and an output) is handed over: of ``task_ids``, the
        ones no other result has claimed yet become its own to report as paid, so each task's
        cost is in exactly one sidecar however many nodes collected it."""
        mine: set[str] = set()
        with self._write() as db:
            for task_id in dict.fromkeys(task_ids):
                row = db.execute(
                    "SELECT settled_by FROM charges WHERE task_id = ? AND state <> 'refunded'",
                    (task_id,),
                ).fetchone()
                if row is None or row[0] not in (None, by):
                    continue
                db.execute(
                    "UPDATE charges SET settled_by = ? WHERE task_id = ? AND state <> 'refunded'",
                    (by, task_id),
                )
                mine.add(task_id)
        return mine

    def charges(self, since: float | None = None) -> list[Charge]:
        """Every charge created since ``since`` (unix seconds; all when None), oldest first."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM charges WHERE created >= ? ORDER BY created, id",
                (since if since is not None else 0.0,),
            ).fetchall()
        return [_charge(row) for row in rows]


def refund_pending(db: Session, key: str, idx: int) -> None:
    """Inside a write transaction: segment ``idx``'s pending charges made no task."""
    db.execute(
        "UPDATE charges SET state = 'refunded' "
        "WHERE job_key = ? AND idx = ? AND state = 'submitting'",
        (key, idx),
    )


def _charge(row: tuple[object, ...]) -> Charge:
    values = list(row)
    values[11] = Decimal(str(values[11]))
    return Charge(*values)  # type: ignore[arg-type]


def _draw(db: Session, reservation: str, cost: Decimal) -> None:
    row = db.execute("SELECT amount FROM reservations WHERE id = ?", (reservation,)).fetchone()
    if row is not None:
        left = max(Decimal(0), Decimal(str(row[0])) - cost)
        db.execute("UPDATE reservations SET amount = ? WHERE id = ?", (str(left), reservation))
