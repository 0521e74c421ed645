"""Budgets per project and period: a batch's estimate is reserved before its first upload,
in one transaction with every other node's reservations and charges, so parallel nodes can
never together go over a budget.

What a budget has used is the charges of its project made in its period (refunded ones cost
nothing) plus the live reservations of that project. A charge draws its amount from its job's
reservation (:mod:`.charges`), so a running job is never counted twice; the rest of a
reservation is released when its batch ends, or lapses with its holder's lease.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from uprez.errors import BudgetError
from uprez.journal.database import Database
from uprez.journal.engine import Session
from uprez.journal.leases import holder_alive

log = logging.getLogger(__name__)
#: A budget used this far (or more) is warned about.
WARN_SHARE = Decimal("0.9")


class BudgetRule(Protocol):
    """One budget of the config: ``project`` (``*``: each project), ``period`` (day, month or
    total, by UTC calendar) and its limit in US dollars."""

    @property
    def project(self) -> str: ...

    @property
    def period(self) -> str: ...

    @property
    def usd(self) -> Decimal: ...


@dataclass(frozen=True)
class BudgetUse:
    """Where one budget stands once a reservation is made."""

    project: str
    period: str
    limit: Decimal
    used: Decimal  # charges and other live reservations, before this one
    asked: Decimal

    @property
    def after(self) -> Decimal:
        return self.used + self.asked

    def describe(self) -> str:
        return (
            f'project "{self.project or "(none)"}", {self.period} budget ${self.limit}: '
            f"${self.used} spent or reserved, this batch ${self.asked}, "
            f"${max(Decimal(0), self.limit - self.used)} left"
        )


def period_start(period: str, now: float) -> float:
    """Unix seconds at which ``period`` (day, month or total; UTC) began."""
    moment = datetime.fromtimestamp(now, UTC)
    if period == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    if period == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    return 0.0


def applies(rule: BudgetRule, project: str) -> bool:
    return rule.project in ("*", project)


class Reservations(Database):
    """The ledger's budget reservations."""

    def reserve(
        self, amounts: Mapping[tuple[str, str], Decimal], rules: Sequence[BudgetRule]
    ) -> tuple[dict[tuple[str, str], str], list[BudgetUse]]:
        """Reserve ``amounts`` (by ``(project, user)``) against every budget that applies, all
        or none: :class:`BudgetError` (exit 4) with the figures when one would go over.
        Returns each reservation's id, and every budget's standing (to warn about)."""
        by_project: dict[str, Decimal] = {}
        for (project, _user), amount in amounts.items():
            by_project[project] = by_project.get(project, Decimal(0)) + amount
        with self._write() as db:
            now = db.now()
            standing = [
                BudgetUse(
                    project, rule.period, rule.usd, _used(db, project, rule.period, now), asked
                )
                for project, asked in sorted(by_project.items())
                for rule in rules
                if applies(rule, project)
            ]
            over = [use for use in standing if use.after > use.limit]
            if over:
                raise BudgetError(
                    "over budget, nothing was spent: "
                    + "; ".join(use.describe() for use in over)
                    + "; raise the budget in the config (budgets) or wait for the next period"
                )
            ids: dict[tuple[str, str], str] = {}
            for (project, user), amount in amounts.items():
                ids[(project, user)] = reservation = secrets.token_hex(8)
                db.execute(
                    "INSERT INTO reservations (id, project, user_name, amount, owner, "
                    "lease_until, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        reservation,
                        project,
                        user,
                        str(amount),
                        self.owner,
                        now + self.lease_seconds,
                        now,
                    ),
                )
        self._heartbeat.need()
        for use in standing:
            if use.after >= use.limit * WARN_SHARE:
                log.warning("budget nearly used: %s", use.describe())
        return ids, standing

    def release(self, reservations: Sequence[str]) -> None:
        """A batch ended: what its reservations still hold is free again."""
        if not reservations:
            return
        with self._write() as db:
            for reservation in reservations:
                db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))


def _used(db: Session, project: str, period: str, now: float) -> Decimal:
    """What ``project`` has spent in ``period`` plus what live reservations hold for it."""
    start = period_start(period, now)
    rows = db.execute(
        "SELECT cost FROM charges WHERE project = ? AND created >= ? AND state <> 'refunded'",
        (project, start),
    ).fetchall()
    used = sum((Decimal(str(cost)) for (cost,) in rows), Decimal(0))
    for reservation, amount, owner, lease_until in db.execute(
        "SELECT id, amount, owner, lease_until FROM reservations WHERE project = ?", (project,)
    ).fetchall():
        if holder_alive(owner, lease_until, now):
            used += Decimal(str(amount))
        else:
            db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))
    return used
