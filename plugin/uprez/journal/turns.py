"""The account's turns: tasks at once and submits per minute, shared by every process (and,
with PostgreSQL, every machine) that uses one account.

A process that wants to submit queues a ticket; tickets are served first come, first served.
The first live ticket becomes a running turn once the account has a free task slot and its
last 60 s hold fewer submits than the rate allows; the turn is then the task's until it ends
(:meth:`Turns.end_turn`). A waiting or running turn is a lease (:mod:`.leases`): a dead node's
tickets leave the queue, and its slots free, when they lapse. Counting uses the database's
clock, so machines whose clocks differ still agree.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

from uprez.account import AccountLimits
from uprez.journal.database import Database
from uprez.journal.engine import Session
from uprez.journal.leases import holder_alive
from uprez.protocol import RATE_WINDOW

log = logging.getLogger(__name__)
# A submit is counted from its turn, a moment before the service sees it: a window this much
# longer keeps a slow POST from landing in the service's next minute with a full count.
_MARGIN = 0.5
# How often a waiting ticket looks again when nothing else says how long to wait: the first in
# line often (a freed slot is its own at once), the others seldom (each look is a write that
# every node waits for), unless a slot is free and the line is about to move.
_POLL = 0.25
_FIRST = 0.05
_SOON = 0.02


class TurnTimeout(Exception):
    """The deadline came while waiting for a turn of the account."""


class Turns(Database):
    """The ledger's account turns."""

    def take_turn(
        self,
        account: AccountLimits,
        key: str,
        idx: int,
        *,
        deadline: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """Wait for this segment's turn to submit (``deadline``: :func:`time.monotonic`);
        return the turn's id. :class:`TurnTimeout` if the deadline comes first."""
        turn = secrets.token_hex(8)
        with self._write() as db:
            now = db.now()
            db.execute(
                "INSERT INTO turns (id, account, state, job_key, idx, owner, lease_until, "
                "created) VALUES (?, ?, 'waiting', ?, ?, ?, ?, ?)",
                (turn, account.fingerprint, key, idx, self.owner, now + self.lease_seconds, now),
            )
        self._heartbeat.need()
        waited = 0.0
        try:
            while True:
                pause = self._try_turn(account, turn)
                if pause <= 0:
                    if waited >= 1:
                        log.info("waited %.1f s for a turn of the account", waited)
                    return turn
                remaining = deadline - time.monotonic()
                # A wait for the rate is known to the second; a wait for a slot or for the
                # tickets ahead is looked at again every _POLL. Neither sleeps past the deadline.
                if (pause > _POLL and pause > remaining) or remaining <= 0:
                    raise TurnTimeout(waited)
                step = min(pause, max(_POLL, self.lease_seconds / 6), remaining)
                sleep(step)
                waited += step
        except BaseException:
            self.drop_turn(turn)
            raise

    def _try_turn(self, account: AccountLimits, turn: str) -> float:
        """Make ``turn`` running if it is its turn; else the seconds worth waiting."""
        with self._write() as db:
            now = db.now()
            rows = _live(db, account.fingerprint, now)
            waiting = [row for row in rows if row[1] == "waiting"]
            if not any(row[0] == turn for row in waiting):
                raise RuntimeError("this process's ticket left the account's queue")
            running = sum(1 for row in rows if row[1] == "running")
            full = account.at_once is not None and running >= account.at_once
            if waiting[0][0] != turn:
                return _POLL if full else _SOON
            if full:
                return _FIRST
            if account.per_minute is not None:
                span = RATE_WINDOW + _MARGIN
                sent = db.execute(
                    "SELECT at FROM submits WHERE account = ? AND at > ? ORDER BY at",
                    (account.fingerprint, now - span),
                ).fetchall()
                if len(sent) >= account.per_minute:
                    return float(sent[-account.per_minute][0]) + span - now + 0.05
                db.execute(
                    "INSERT INTO submits (account, at) VALUES (?, ?)", (account.fingerprint, now)
                )
                db.execute(
                    "DELETE FROM submits WHERE account = ? AND at < ?",
                    (account.fingerprint, now - 2 * RATE_WINDOW),
                )
            db.execute(
                "UPDATE turns SET state = 'running', lease_until = ? WHERE id = ?",
                (now + self.lease_seconds, turn),
            )
            return 0.0

    def adopt_turn(self, account: AccountLimits, key: str, idx: int) -> None:
        """A task of this segment is at the service already (resumed, or collected from
        another node): unless its submitter still holds its slot, this process holds one for
        it while it waits, so the account's count stays true. Never waits."""
        with self._write() as db:
            now = db.now()
            for _turn, state, job_key, number in _live(db, account.fingerprint, now):
                if state == "running" and (job_key, number) == (key, idx):
                    return
            db.execute(
                "INSERT INTO turns (id, account, state, job_key, idx, owner, lease_until, "
                "created) VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
                (
                    secrets.token_hex(8),
                    account.fingerprint,
                    key,
                    idx,
                    self.owner,
                    now + self.lease_seconds,
                    now,
                ),
            )
        self._heartbeat.need()

    def end_turn(self, key: str, idx: int) -> None:
        """The segment's task ended (or was never made): free this process's slot for it."""
        with self._write() as db:
            db.execute(
                "DELETE FROM turns WHERE job_key = ? AND idx = ? AND owner = ?",
                (key, idx, self.owner),
            )

    def drop_turn(self, turn: str) -> None:
        """Leave the queue, or free the slot, of one turn."""
        with self._write() as db:
            db.execute("DELETE FROM turns WHERE id = ?", (turn,))

    def running_turns(self, fingerprint: str) -> int:
        """How many tasks of the account hold a live slot now."""
        with self._write() as db:
            rows = _live(db, fingerprint, db.now())
        return sum(1 for row in rows if row[1] == "running")


def _live(db: Session, fingerprint: str, now: float) -> list[tuple[str, str, str, int]]:
    """The account's live turns, oldest first (``id, state, job_key, idx``); lapsed ones are
    removed on the way."""
    rows = db.execute(
        "SELECT id, state, job_key, idx, owner, lease_until FROM turns WHERE account = ? "
        "ORDER BY created, id",
        (fingerprint,),
    ).fetchall()
    live = []
    for turn, state, job_key, idx, owner, lease_until in rows:
        if holder_alive(owner, lease_until, now):
            live.append((turn, state, job_key, idx))
        else:
            db.execute("DELETE FROM turns WHERE id = ?", (turn,))
    return live
