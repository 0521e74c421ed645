"""The account's turns (uprez.journal.turns), shared by every process and machine on a ledger,
on both engines: tasks at once, submits a minute, first come first served, and a lapsed
holder's slot freed after its lease."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from uprez.account import AccountLimits
from uprez.journal import turns as turns_module
from uprez.journal.leases import HOST
from uprez.journal.store import Journal
from uprez.journal.turns import TurnTimeout

OpenLedger = Callable[..., Journal]
Lapsed = Callable[..., None]
FP = "acct-fingerprint"
# Short enough that waiting tickets look again every 0.25 s; the heartbeat renews every 0.5 s.
LEASE = 1.5


def soon(seconds: float = 15.0) -> float:
    """A deadline (time.monotonic) ``seconds`` away."""
    return time.monotonic() + seconds


def turns(journal: Journal) -> list[tuple[str, str, int, str]]:
    """The turns table: (state, job_key, idx, owner), oldest first."""
    with journal._read() as db:
        rows = db.execute(
            "SELECT state, job_key, idx, owner FROM turns WHERE account = ? ORDER BY created, id",
            (FP,),
        ).fetchall()
    return [(str(s), str(k), int(i), str(o)) for s, k, i, o in rows]


def wait_for(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.02)


class Waiter(threading.Thread):
    """``journal.take_turn(...)`` in a thread of its own, keeping what it returned or raised;
    ``then`` runs once the turn is taken."""

    def __init__(
        self,
        journal: Journal,
        limits: AccountLimits,
        idx: int,
        deadline: float,
        then: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(daemon=True)
        self.journal, self.limits, self.idx, self.deadline, self.then = (
            journal,
            limits,
            idx,
            deadline,
            then,
        )
        self.result: Any = None
        self.error: BaseException | None = None
        self.took_at: float | None = None

    def run(self) -> None:
        try:
            self.result = self.journal.take_turn(
                self.limits, "job", self.idx, deadline=self.deadline
            )
            self.took_at = time.monotonic()
            self.then()
        except BaseException as exc:
            self.error = exc

    def outcome(self, within: float = 15.0) -> Any:
        self.join(within)
        assert not self.is_alive(), "take_turn never returned"
        if self.error is not None:
            raise self.error
        return self.result


def test_two_tasks_at_once_run_and_a_third_waits_until_one_ends(
    open_ledger: OpenLedger,
) -> None:
    limits = AccountLimits(FP, at_once=2)
    a, b, c = (open_ledger(lease_seconds=LEASE, owner=f"{n}-host:1:{n}") for n in "abc")

    first = a.take_turn(limits, "job", 0, deadline=soon())
    second = b.take_turn(limits, "job", 1, deadline=soon())
    third = Waiter(c, limits, 2, soon())
    third.start()
    wait_for(lambda: len(turns(a)) == 3)
    time.sleep(1.0)  # four of its looks, at least: it still waits
    held = turns(a)
    ended_at = time.monotonic()
    a.end_turn("job", 0)
    got = third.outcome()

    assert len({first, second, got}) == 3
    assert third.is_alive() is False and third.took_at is not None
    assert [state for state, *_ in held] == ["running", "running", "waiting"]
    assert 0 <= third.took_at - ended_at < 5
    assert turns(b) == [("running", "job", 1, "b-host:1:b"), ("running", "job", 2, "c-host:1:c")]
    assert b.running_turns(FP) == 2


def test_tickets_are_served_in_the_order_they_were_taken(open_ledger: OpenLedger) -> None:
    limits = AccountLimits(FP, at_once=1)
    holder = open_ledger(lease_seconds=LEASE, owner="h-host:1:h")
    holder.take_turn(limits, "job", 0, deadline=soon())
    served: list[str] = []
    waiters = []
    # Queued in an order that neither their names nor their segments follow.
    for name, idx in (("c", 3), ("a", 1), ("b", 2)):
        journal = open_ledger(lease_seconds=LEASE, owner=f"{name}-host:1:{name}")

        def done(journal: Journal = journal, name: str = name, idx: int = idx) -> None:
            served.append(name)
            journal.end_turn("job", idx)

        waiter = Waiter(journal, limits, idx, soon(20), then=done)
        waiter.start()
        waiters.append(waiter)
        queued_now = 1 + len(waiters)

        def all_queued(queued_now: int = queued_now) -> bool:
            return len(turns(holder)) == queued_now

        wait_for(all_queued)
    queued = [owner for _, _, _, owner in turns(holder)]

    holder.end_turn("job", 0)
    for waiter in waiters:
        waiter.outcome(20)

    assert queued == ["h-host:1:h", "c-host:1:c", "a-host:1:a", "b-host:1:b"]
    assert served == ["c", "a", "b"]
    assert turns(holder) == []


def test_a_lapsed_holders_running_turn_frees_its_slot_after_its_lease(
    open_ledger: OpenLedger,
) -> None:
    limits = AccountLimits(FP, at_once=1)
    mine = open_ledger(lease_seconds=LEASE, owner="mine-host:1:m")
    other = open_ledger(lease_seconds=1.0, owner="other-host:4242:beef")
    other.take_turn(limits, "job", 0, deadline=soon())
    other.close()  # no more heartbeat: its running turn lapses after its lease
    with mine._read() as db:
        (until,) = db.execute(
            "SELECT lease_until FROM turns WHERE owner = ?", ("other-host:4242:beef",)
        ).fetchone()

    with pytest.raises(TurnTimeout):  # its slot is held while its lease lasts
        mine.take_turn(limits, "job", 1, deadline=time.monotonic() + 0.1)
    held = mine.running_turns(FP)
    started = time.monotonic()
    mine.take_turn(limits, "job", 1, deadline=soon())
    waited = time.monotonic() - started

    assert held == 1
    assert waited < 10 and mine.now() > until  # served once its lease lapsed, not before
    assert turns(mine) == [("running", "job", 1, "mine-host:1:m")]  # the lapsed one is gone


def test_submits_a_minute_let_two_through_and_make_the_third_wait(
    open_ledger: OpenLedger,
) -> None:
    limits = AccountLimits(FP, per_minute=2)
    # A long lease, so that a waiting ticket sleeps as long as the turn says to wait.
    mine = open_ledger(lease_seconds=600, owner="mine-host:1:m")
    other = open_ledger(lease_seconds=600, owner="other-host:1:o")
    mine.take_turn(limits, "job", 0, deadline=soon(2))
    other.take_turn(limits, "job", 1, deadline=soon(2))
    asked: list[float] = []

    class Woken(Exception):
        pass

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        raise Woken

    started = time.monotonic()
    with pytest.raises(TurnTimeout):  # a turn known to come after the deadline: at once
        mine.take_turn(limits, "job", 2, deadline=time.monotonic() + 0.4, sleep=sleep)
    gave_up = time.monotonic() - started
    with pytest.raises(TurnTimeout):  # the rate is the account's, whoever asks
        other.take_turn(limits, "job", 3, deadline=time.monotonic() + 0.1)
    with pytest.raises(Woken):
        mine.take_turn(limits, "job", 2, deadline=time.monotonic() + 120, sleep=sleep)

    # The third may submit once the first of the two is a minute old (and a margin for a slow
    # submit): it sleeps about 60 s, not another look a moment later.
    assert (
        len(asked) == 1 and turns_module.RATE_WINDOW - 1 < asked[0] <= turns_module.RATE_WINDOW + 1
    )
    assert gave_up < 1
    # Neither ticket stays in the queue; the two turns taken still run.
    assert sorted(turns(mine)) == [
        ("running", "job", 0, "mine-host:1:m"),
        ("running", "job", 1, "other-host:1:o"),
    ]
    with mine._read() as db:
        (sent,) = db.execute("SELECT count(*) FROM submits WHERE account = ?", (FP,)).fetchone()
    assert sent == 2


def test_submits_a_minute_count_submits_not_running_tasks(open_ledger: OpenLedger) -> None:
    limits = AccountLimits(FP, per_minute=2)
    mine = open_ledger(lease_seconds=600)
    mine.take_turn(limits, "job", 0, deadline=soon(2))
    mine.end_turn("job", 0)
    mine.take_turn(limits, "job", 1, deadline=soon(2))
    mine.end_turn("job", 1)

    with pytest.raises(TurnTimeout):
        mine.take_turn(limits, "job", 2, deadline=time.monotonic() + 0.2)

    assert (mine.running_turns(FP), turns(mine)) == (0, [])


def test_a_turn_is_adopted_only_when_no_live_one_holds_that_segment(
    open_ledger: OpenLedger, lapsed: Lapsed
) -> None:
    limits = AccountLimits(FP, at_once=1)
    mine = open_ledger(lease_seconds=30)
    other = open_ledger(lease_seconds=0.5, owner="other-host:4242:beef")
    other.take_turn(limits, "job", 0, deadline=soon())

    mine.adopt_turn(limits, "job", 0)  # its submitter still holds the slot
    while_held = turns(mine)
    mine.adopt_turn(limits, "job", 1)  # never waits, even past the tasks at once
    mine.adopt_turn(limits, "job", 1)  # and only once per segment
    both = mine.running_turns(FP)
    other.close()
    lapsed(mine, "other-host:4242:beef", "turns")
    mine.adopt_turn(limits, "job", 0)  # the submitter's slot lapsed: this process holds it

    assert while_held == [("running", "job", 0, "other-host:4242:beef")]
    assert both == 2
    assert sorted(turns(mine)) == [
        ("running", "job", 0, mine.owner),
        ("running", "job", 1, mine.owner),
    ]
    assert mine.running_turns(FP) == 2
    mine.end_turn("job", 0)
    assert mine.running_turns(FP) == 1


def test_another_accounts_turns_are_not_counted(open_ledger: OpenLedger) -> None:
    mine = open_ledger(lease_seconds=30)
    mine.take_turn(AccountLimits("another-account", at_once=1), "job", 0, deadline=soon(2))

    mine.take_turn(AccountLimits(FP, at_once=1), "job", 1, deadline=soon(2))

    assert (mine.running_turns(FP), mine.running_turns("another-account")) == (1, 1)


def queue_ticket(journal: Journal, owner: str, lease: float) -> float:
    """A waiting ticket at the head of the queue, as a node left it when it stopped (it never
    looks again, nor renews it); returns when its lease ends, by the ledger's clock."""
    with journal._write() as db:
        now = db.now()
        db.execute(
            "INSERT INTO turns (id, account, state, job_key, idx, owner, lease_until, created) "
            "VALUES ('stale', ?, 'waiting', 'job', 9, ?, ?, ?)",
            (FP, owner, now + lease, now - 1),
        )
    return now + lease


def test_a_stopped_nodes_ticket_leaves_the_queue_when_its_lease_lapses(
    open_ledger: OpenLedger,
) -> None:
    limits = AccountLimits(FP, at_once=1)
    mine = open_ledger(lease_seconds=LEASE)
    until = queue_ticket(mine, "gone-host:1:g", 1.0)

    with pytest.raises(TurnTimeout):  # first come, first served: it is ahead
        mine.take_turn(limits, "job", 0, deadline=time.monotonic() + 0.1)
    mine.take_turn(limits, "job", 0, deadline=soon())

    assert mine.now() > until
    assert turns(mine) == [("running", "job", 0, mine.owner)]


def test_a_ticket_of_a_dead_process_on_this_host_leaves_the_queue_at_once(
    open_ledger: OpenLedger,
) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    limits = AccountLimits(FP, at_once=1)
    mine = open_ledger(lease_seconds=LEASE)
    until = queue_ticket(mine, f"{HOST}:{int(finished.stdout)}:dead", 600)

    started = time.monotonic()
    mine.take_turn(limits, "job", 0, deadline=soon())

    assert time.monotonic() - started < 2
    assert mine.now() < until
    assert turns(mine) == [("running", "job", 0, mine.owner)]


def test_a_turn_is_never_granted_after_its_deadline(open_ledger: OpenLedger) -> None:
    limits = AccountLimits(FP, per_minute=1)
    mine = open_ledger()  # the default lease: a waiting ticket may sleep up to 5 s at a time
    with mine._write() as db:  # the minute's one submit, which ages out about 1.2 s from now
        db.execute(
            "INSERT INTO submits (account, at) VALUES (?, ?)",
            (FP, db.now() - turns_module.RATE_WINDOW + 1.2),
        )

    started = time.monotonic()
    with pytest.raises(TurnTimeout):
        mine.take_turn(limits, "job", 0, deadline=started + 0.3)
    late = time.monotonic() - started - 0.3

    assert late < 0.5
    assert turns(mine) == []
