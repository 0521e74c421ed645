"""A segment's claim to submit is a lease (uprez.journal.segments_table, leases), on both
engines: another holder's live claim keeps everyone else waiting, a lapsed one is "lost" and
taken over exactly once, and a waiter learns the other's task id or that its claim lapsed."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from uprez.errors import JobTimeout
from uprez.journal.charges import Payer
from uprez.journal.leases import HOST
from uprez.journal.store import Journal
from uprez.journal.tasks import TaskRecord

OpenLedger = Callable[..., Journal]
Lapsed = Callable[..., None]
KEY = "job-1"
OTHER = "other-host:4242:beef"
THIRD = "third-host:7:cafe"


def add_job(journal: Journal, key: str = KEY) -> None:
    journal.open_job(
        key,
        source=Path("/renders/shot.mp4"),
        source_hash="h",
        output=Path("/renders/shot_4k.mp4"),
        model="m",
        plan=[{}, {}],
    )


def test_another_machines_live_claim_is_busy_while_its_heartbeat_renews_it(
    open_ledger: OpenLedger,
) -> None:
    mine = open_ledger()
    other = open_ledger(lease_seconds=0.5, owner=OTHER)
    add_job(mine)

    verdict, claimed = other.claim_submit(KEY, 0)
    time.sleep(1.2)  # more than two of its leases: only its heartbeat keeps the claim
    verdict_then, row = mine.claim_submit(KEY, 0)

    assert (verdict, verdict_then) == ("submit", "busy")
    assert (row.state, row.claim_owner) == ("submitting", OTHER)
    assert claimed.lease_until is not None and row.lease_until is not None
    assert row.lease_until > claimed.lease_until  # renewed since it was claimed
    assert row.lease_until > mine.now()
    assert mine.claim_submit(KEY, 1)[0] == "submit"  # the other segment is free


def test_a_lapsed_claim_is_lost_and_taken_over_exactly_once(
    open_ledger: OpenLedger, lapsed: Lapsed
) -> None:
    mine = open_ledger()
    other = open_ledger(lease_seconds=0.5, owner=OTHER)
    third = open_ledger(owner=THIRD)
    add_job(mine)
    assert other.claim_submit(KEY, 0)[0] == "submit"
    other.close()  # its heartbeat stops: the claim lapses after its lease
    lapsed(mine, OTHER, "segments", "claim_owner")

    verdict, row = mine.claim_submit(KEY, 0)
    also, same_row = third.claim_submit(KEY, 0)
    first = mine.take_over(row)
    second = third.take_over(same_row)
    again = mine.take_over(row)

    assert (verdict, also) == ("lost", "lost")
    assert row == same_row and row.claim_owner == OTHER
    assert (first, second, again) == (True, False, False)
    now = mine.segment(KEY, 0)
    assert (now.state, now.claim_owner, now.task_id) == ("submitting", mine.owner, None)
    assert now.lease_until is not None and now.lease_until > mine.now() + 20
    assert third.claim_submit(KEY, 0)[0] == "busy"


def test_a_claim_of_a_dead_process_on_this_host_is_lost_at_once(
    open_ledger: OpenLedger,
) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = f"{HOST}:{int(finished.stdout)}:dead"
    mine = open_ledger()
    ghost = open_ledger(lease_seconds=600, owner=dead)
    add_job(mine)
    ghost.claim_submit(KEY, 0)
    ghost.close()

    verdict, row = mine.claim_submit(KEY, 0)

    assert verdict == "lost"
    assert row.claim_owner == dead and row.lease_until is not None
    assert row.lease_until > mine.now() + 500  # its lease holds; its process does not


def test_a_claim_released_when_a_task_may_exist_is_lost_at_once_for_others(
    open_ledger: OpenLedger,
) -> None:
    mine = open_ledger()
    other = open_ledger(lease_seconds=0.5, owner=OTHER)
    add_job(mine)
    assert other.claim_submit(KEY, 0)[0] == "submit"

    TaskRecord(other, KEY, 0).release(maybe_created=True)
    verdict, row = mine.claim_submit(KEY, 0)
    time.sleep(0.6)  # the other's heartbeat (every 0.2 s) runs on: it must not revive it
    verdict_then, _ = mine.claim_submit(KEY, 0)

    assert (verdict, verdict_then) == ("lost", "lost")
    assert (row.claim_owner, row.lease_until) == (OTHER, 0)
    assert mine.take_over(row) is True


def test_a_claim_released_when_no_task_was_made_may_be_submitted_at_once(
    open_ledger: OpenLedger,
) -> None:
    mine = open_ledger()
    other = open_ledger(owner=OTHER)
    add_job(mine)
    assert other.claim_submit(KEY, 0)[0] == "submit"

    TaskRecord(other, KEY, 0).release(maybe_created=False)
    verdict, row = mine.claim_submit(KEY, 0)

    assert verdict == "submit"
    assert (row.claim_owner, row.state) == (mine.owner, "submitting")


def test_taking_over_refunds_the_lost_attempts_pending_charge(
    open_ledger: OpenLedger, lapsed: Lapsed
) -> None:
    mine = open_ledger()
    other = open_ledger(lease_seconds=0.5, owner=OTHER)
    add_job(mine)
    assert other.claim_submit(KEY, 0)[0] == "submit"
    other.charge(KEY, 0, Payer("acct", "m", "p", "u"), 10, Decimal("0.30"))
    other.close()
    lapsed(mine, OTHER, "segments", "claim_owner")

    verdict, row = mine.claim_submit(KEY, 0)
    taken = mine.take_over(row)

    assert (verdict, taken) == ("lost", True)
    assert [(c.state, c.cost) for c in mine.charges()] == [("refunded", Decimal("0.30"))]


def test_a_known_task_is_never_claimed(open_ledger: OpenLedger) -> None:
    mine = open_ledger()
    other = open_ledger(owner=OTHER)
    add_job(mine)
    other.claim_submit(KEY, 0)
    other.update_segment(KEY, 0, state="submitted", task_id="task-7")

    verdict, row = mine.claim_submit(KEY, 0)

    assert (verdict, row.task_id) == ("known", "task-7")
    assert mine.take_over(row) is False


# -- waiting for another's submit -----------------------------------------------------------------


def test_waiting_for_another_returns_the_task_id_it_records(open_ledger: OpenLedger) -> None:
    mine = open_ledger()
    other = open_ledger(lease_seconds=0.5, owner=OTHER)
    add_job(mine)
    assert other.claim_submit(KEY, 0)[0] == "submit"

    def submit_later() -> None:
        time.sleep(0.7)  # longer than its lease: its heartbeat keeps the claim meanwhile
        TaskRecord(other, KEY, 0).submitted("task-42")

    thread = threading.Thread(target=submit_later)
    thread.start()
    started = time.monotonic()
    got = TaskRecord(mine, KEY, 0).wait_for_other(deadline=time.monotonic() + 15)
    waited = time.monotonic() - started
    thread.join(10)

    assert got == "task-42"
    assert 0.5 < waited < 10


def test_waiting_for_another_returns_none_once_its_lease_lapses(
    open_ledger: OpenLedger,
) -> None:
    mine = open_ledger()
    other = open_ledger(lease_seconds=0.8, owner=OTHER)
    add_job(mine)
    claimed = other.claim_submit(KEY, 0)[1]
    other.close()
    record = TaskRecord(mine, KEY, 0)

    got = record.wait_for_other(deadline=time.monotonic() + 15)

    assert got is None
    assert claimed.lease_until is not None and mine.now() > claimed.lease_until
    assert record.claim()[0] == "lost"


def test_waiting_for_a_live_claim_ends_at_the_deadline(open_ledger: OpenLedger) -> None:
    mine = open_ledger()
    other = open_ledger(lease_seconds=0.5, owner=OTHER)
    add_job(mine)
    other.claim_submit(KEY, 0)

    started = time.monotonic()
    with pytest.raises(JobTimeout, match="segment 1"):
        TaskRecord(mine, KEY, 0).wait_for_other(deadline=time.monotonic() + 0.8)

    assert 0.7 < time.monotonic() - started < 5
    assert mine.claim_submit(KEY, 0)[0] == "busy"
