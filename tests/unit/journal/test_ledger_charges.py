"""What each task cost (uprez.journal.charges) on both engines: a charge is written before its
submit, becomes "submitted" with the task id, "refunded" when it made no task or the task
failed, and each task's cost is settled by exactly one result."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from uprez.journal.charges import Payer
from uprez.journal.leases import HOST
from uprez.journal.store import Journal
from uprez.journal.tasks import Price, TaskRecord

OpenLedger = Callable[..., Journal]
D = Decimal
PAYER = Payer("acct-fp", "runwayml/upscale-v1", "show-a", "ann")


def add_job(journal: Journal, key: str = "job-1", segments: int = 3) -> None:
    journal.open_job(
        key,
        source=Path("/renders/shot.mp4"),
        source_hash="h",
        output=Path("/renders/shot_4k.mp4"),
        model="m",
        plan=[{} for _ in range(segments)],
    )


def states(journal: Journal) -> list[tuple[int, str | None, str, Decimal]]:
    return [(c.idx, c.task_id, c.state, c.cost) for c in journal.charges()]


def test_a_charge_is_listed_as_submitted_with_its_task_and_cost(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    add_job(journal)
    before = journal.now()

    charge_id = journal.charge("job-1", 0, PAYER, 12, D("0.40"))
    pending = journal.charges()
    made = journal.charge_made("job-1", 0, "task-0")
    [charge] = journal.charges()

    assert [(c.id, c.state, c.task_id) for c in pending] == [(charge_id, "submitting", None)]
    assert made is True
    assert (charge.id, charge.job_key, charge.idx, charge.task_id, charge.state) == (
        charge_id,
        "job-1",
        0,
        "task-0",
        "submitted",
    )
    assert (charge.account, charge.model, charge.project, charge.user_name, charge.host) == (
        "acct-fp",
        "runwayml/upscale-v1",
        "show-a",
        "ann",
        HOST,
    )
    assert charge.billed_seconds == 12
    assert isinstance(charge.cost, Decimal) and str(charge.cost) == "0.40"
    assert before <= charge.created <= journal.now()


def test_charges_are_listed_oldest_first_and_since_a_moment(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    add_job(journal)
    journal.charge("job-1", 0, PAYER, 10, D("0.10"))
    time.sleep(0.01)
    middle = journal.now()
    time.sleep(0.01)
    journal.charge("job-1", 1, PAYER, 10, D("0.20"))
    journal.charge("job-1", 2, PAYER, 10, D("0.30"))

    assert [c.cost for c in journal.charges()] == [D("0.10"), D("0.20"), D("0.30")]
    assert [c.cost for c in journal.charges(since=middle)] == [D("0.20"), D("0.30")]
    assert journal.charges(since=journal.now() + 60) == []


def test_charge_made_without_a_pending_charge_says_whether_the_task_is_known(
    open_ledger: OpenLedger,
) -> None:
    journal = open_ledger()
    add_job(journal)
    journal.charge("job-1", 0, PAYER, 10, D("0.10"))
    journal.charge_made("job-1", 0, "task-0")

    assert journal.charge_made("job-1", 1, "task-unknown") is False
    assert journal.charge_made("job-1", 0, "task-0") is True  # found again, already charged
    assert states(journal) == [(0, "task-0", "submitted", D("0.10"))]


def test_of_several_pending_charges_the_newest_made_the_task(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    add_job(journal)
    first = journal.charge("job-1", 0, PAYER, 10, D("0.10"))
    time.sleep(0.01)
    second = journal.charge("job-1", 0, PAYER, 10, D("0.15"))

    journal.charge_made("job-1", 0, "task-0")

    by_id = {c.id: (c.state, c.task_id) for c in journal.charges()}
    assert by_id == {first: ("refunded", None), second: ("submitted", "task-0")}


def test_charge_unmade_refunds_only_the_segments_pending_charges(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    add_job(journal)
    journal.charge("job-1", 0, PAYER, 10, D("0.10"))
    journal.charge_made("job-1", 0, "task-0")
    journal.charge("job-1", 0, PAYER, 10, D("0.11"))  # a second try of segment 0
    journal.charge("job-1", 1, PAYER, 10, D("0.20"))

    journal.charge_unmade("job-1", 0)

    assert states(journal) == [
        (0, "task-0", "submitted", D("0.10")),
        (0, None, "refunded", D("0.11")),
        (1, None, "submitting", D("0.20")),
    ]


def test_a_failed_task_is_refunded(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    add_job(journal)
    record = TaskRecord(journal, "job-1", 0, price=Price(PAYER, 10, D("0.25")))
    assert record.claim()[0] == "submit"
    record.about_to_submit()
    record.submitted("task-0")
    charged = states(journal)

    record.task_failed("the service said no")

    assert charged == [(0, "task-0", "submitted", D("0.25"))]
    assert states(journal) == [(0, "task-0", "refunded", D("0.25"))]
    assert journal.segment("job-1", 0).task_id is None


def test_a_task_found_that_nobody_charged_is_charged_once(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    add_job(journal)
    record = TaskRecord(journal, "job-1", 0, price=Price(PAYER, 10, D("0.25")))

    record.submitted("task-0")  # made by an older version, found now
    record.submitted("task-0")  # found again

    assert states(journal) == [(0, "task-0", "submitted", D("0.25"))]


def test_each_task_is_settled_by_the_first_result_only(open_ledger: OpenLedger) -> None:
    here = open_ledger()
    there = open_ledger(owner="other-host:4242:beef")
    add_job(here)
    for idx in range(3):
        here.charge("job-1", idx, PAYER, 10, D("0.10"))
        here.charge_made("job-1", idx, f"task-{idx}")
    here.charge_refunded("task-2")
    a, b = "node-a:/out/a.mp4", "node-b:/out/b.mp4"

    first = here.settle(["task-0", "task-1", "task-0"], a)
    second = there.settle(["task-0", "task-1", "task-2", "task-x"], b)
    again = here.settle(["task-1", "task-0"], a)
    later = there.settle(["task-1"], b)

    assert first == {"task-0", "task-1"}
    assert second == set()  # taken, refunded, or never charged
    assert again == {"task-0", "task-1"}  # the same result asking again
    assert later == set()
    with here._read() as db:
        rows = db.execute("SELECT task_id, settled_by FROM charges ORDER BY task_id").fetchall()
    assert [tuple(row) for row in rows] == [("task-0", a), ("task-1", a), ("task-2", None)]


def test_a_task_is_settled_once_when_two_nodes_race(open_ledger: OpenLedger) -> None:
    here = open_ledger()
    there = open_ledger(owner="other-host:4242:beef")
    add_job(here, segments=1)
    tasks = [f"task-{n}" for n in range(40)]
    for task in tasks:
        here.charge("job-1", 0, PAYER, 1, D("0.01"))
        here.charge_made("job-1", 0, task)
    got: dict[str, set[str]] = {}
    start = threading.Barrier(2)

    def settle(journal: Journal, by: str) -> None:
        start.wait(10)
        got[by] = journal.settle(tasks, by)

    threads = [
        threading.Thread(target=settle, args=(here, "a")),
        threading.Thread(target=settle, args=(there, "b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert got["a"] | got["b"] == set(tasks)
    assert got["a"] & got["b"] == set()
