"""Budgets (uprez.journal.reservations) on both engines: a reservation within the limit is
made, one over it is refused with the figures, charges draw reservations down, refunds and
lapsed holders free what they held, and nodes reserving at once never together go over."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from uprez.errors import BudgetError
from uprez.journal.charges import Payer
from uprez.journal.reservations import period_start
from uprez.journal.store import Journal

OpenLedger = Callable[..., Journal]
Lapsed = Callable[..., None]
D = Decimal
OTHER = "other-host:4242:beef"


@dataclass(frozen=True)
class Rule:
    """A budget as the config states it (reservations.BudgetRule)."""

    project: str
    period: str
    usd: Decimal


def add_job(journal: Journal, key: str = "job-1") -> None:
    journal.open_job(
        key,
        source=Path("/renders/shot.mp4"),
        source_hash="h",
        output=Path("/renders/shot_4k.mp4"),
        model="m",
        plan=[{}, {}],
    )


def used(journal: Journal, project: str, period: str = "total") -> Decimal:
    """What ``project`` has spent or reserved in ``period``, as a new reservation sees it."""
    ids, standing = journal.reserve({(project, "probe"): D(0)}, [Rule(project, period, D(10**6))])
    journal.release(list(ids.values()))
    [use] = standing
    return use.used


def reserved(journal: Journal) -> dict[str, Decimal]:
    """Each reservation's amount, by id."""
    with journal._read() as db:
        rows = db.execute("SELECT id, amount FROM reservations").fetchall()
    return {str(rid): D(str(amount)) for rid, amount in rows}


def test_a_reservation_within_the_limit_is_made_and_counted(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    rules = [Rule("p", "total", D("4.00"))]

    ids, standing = journal.reserve({("p", "ann"): D("3.00")}, rules)

    assert list(ids) == [("p", "ann")]
    assert reserved(journal) == {ids[("p", "ann")]: D("3.00")}
    [use] = standing
    assert (use.project, use.period, use.limit, use.used, use.asked, use.after) == (
        "p",
        "total",
        D("4.00"),
        D(0),
        D("3.00"),
        D("3.00"),
    )
    assert used(journal, "p") == D("3.00")


def test_a_reservation_over_the_limit_is_refused_with_the_figures(
    open_ledger: OpenLedger,
) -> None:
    journal = open_ledger()
    rules = [Rule("p", "total", D("4.00"))]
    journal.reserve({("p", "ann"): D("3.00")}, rules)

    with pytest.raises(BudgetError) as refused:
        journal.reserve({("p", "bob"): D("1.50")}, rules)

    assert refused.value.exit_code == 4
    text = str(refused.value)
    assert (
        'project "p", total budget $4.00: $3.00 spent or reserved, this batch $1.50, $1.00 left'
        in text
    ), text
    assert len(reserved(journal)) == 1  # nothing of the refused batch stays
    assert journal.reserve({("p", "bob"): D("1.00")}, rules)[0]  # exactly up to the limit


def test_a_batch_is_reserved_all_or_none(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    rules = [Rule("p", "total", D("5")), Rule("q", "total", D("5"))]

    with pytest.raises(BudgetError) as refused:
        # q fits; p does not, counting both of its users together.
        journal.reserve({("p", "ann"): D(3), ("p", "bob"): D(3), ("q", "ann"): D(1)}, rules)

    assert 'project "p", total budget $5: $0 spent or reserved, this batch $6' in str(refused.value)
    assert '"q"' not in str(refused.value)
    assert reserved(journal) == {}


def test_star_applies_to_each_project_separately(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    rules = [Rule("*", "total", D("4"))]

    journal.reserve({("p1", "ann"): D("3")}, rules)
    journal.reserve({("p2", "ann"): D("3")}, rules)  # p1's use is not p2's
    with pytest.raises(BudgetError) as refused:
        journal.reserve({("p1", "bob"): D("2")}, rules)

    assert 'project "p1", total budget $4: $3 spent or reserved, this batch $2' in str(
        refused.value
    )
    assert "p2" not in str(refused.value)
    assert (used(journal, "p1"), used(journal, "p2"), used(journal, "p3")) == (D(3), D(3), D(0))


def test_every_rule_that_applies_is_checked(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    rules = [Rule("*", "total", D("100")), Rule("p", "day", D("2"))]

    with pytest.raises(BudgetError) as refused:
        journal.reserve({("p", "ann"): D("3")}, rules)
    _, standing = journal.reserve({("q", "ann"): D("3")}, rules)

    assert 'project "p", day budget $2: $0 spent or reserved' in str(refused.value)
    assert "total budget" not in str(refused.value)
    assert [(use.project, use.period) for use in standing] == [("q", "total")]


def test_charges_draw_the_reservation_down_so_the_total_stays(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    add_job(journal)
    ids, _ = journal.reserve({("p", "ann"): D("3.00")}, [Rule("p", "total", D("10"))])
    rid = ids[("p", "ann")]
    payer = Payer("acct", "m", "p", "ann", reservation=rid)

    journal.charge("job-1", 0, payer, 10, D("1.25"))
    after_one = (reserved(journal)[rid], used(journal, "p"))
    journal.charge("job-1", 1, payer, 30, D("2.50"))  # more than is left of it
    after_two = (reserved(journal)[rid], used(journal, "p"))
    journal.release([rid])

    assert after_one == (D("1.75"), D("3.00"))
    assert after_two == (D(0), D("3.75"))
    assert (reserved(journal), used(journal, "p")) == ({}, D("3.75"))


def test_a_refunded_charge_frees_its_amount(open_ledger: OpenLedger) -> None:
    journal = open_ledger()
    add_job(journal)
    payer = Payer("acct", "m", "p", "ann")
    journal.charge("job-1", 0, payer, 10, D("1.25"))
    journal.charge_made("job-1", 0, "task-0")
    journal.charge("job-1", 1, payer, 10, D("0.75"))
    before = used(journal, "p")

    journal.charge_refunded("task-0")  # the task failed
    after_refund = used(journal, "p")
    journal.charge_unmade("job-1", 1)  # the submit made no task

    assert (before, after_refund, used(journal, "p")) == (D("2.00"), D("0.75"), D(0))


@pytest.mark.parametrize("period", ["day", "month"])
def test_a_period_ignores_charges_from_before_it_began(
    open_ledger: OpenLedger, period: str
) -> None:
    journal = open_ledger()
    now = journal.now()
    start = period_start(period, now)
    add_job(journal)
    journal.charge("job-1", 0, Payer("acct", "m", "p", "ann"), 10, D("0.50"))  # now
    with journal._write() as db:  # a charge an hour before the period began (UTC)
        db.execute(
            "INSERT INTO charges (id, job_key, idx, task_id, state, account, model, project, "
            "user_name, host, billed_seconds, cost, created) "
            "VALUES ('old', 'job-0', 0, 't-old', 'submitted', 'acct', 'm', 'p', 'ann', 'h', 10, "
            "'2.00', ?)",
            (start - 3600,),
        )

    assert used(journal, "p", period) == D("0.50")
    assert used(journal, "p", "total") == D("2.50")
    with pytest.raises(BudgetError):
        journal.reserve({("p", "ann"): D("1")}, [Rule("p", "total", D("3"))])
    assert journal.reserve({("p", "ann"): D("1")}, [Rule("p", period, D("3"))])[0]


def test_period_start_is_the_utc_calendar() -> None:
    moment = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC

    assert period_start("day", moment) == 1_699_920_000.0  # 2023-11-14 00:00 UTC
    assert period_start("month", moment) == 1_698_796_800.0  # 2023-11-01 00:00 UTC
    assert period_start("total", moment) == 0.0


def test_a_reservation_whose_holder_lapsed_stops_counting(
    open_ledger: OpenLedger, lapsed: Lapsed
) -> None:
    mine = open_ledger()
    other = open_ledger(lease_seconds=0.5, owner=OTHER)
    rules = [Rule("p", "total", D("4"))]
    other.reserve({("p", "bob"): D("3")}, rules)
    time.sleep(1.0)  # two of its leases: its heartbeat keeps it

    with pytest.raises(BudgetError):
        mine.reserve({("p", "ann"): D("2")}, rules)
    other.close()
    lapsed(mine, OTHER, "reservations")
    ids, standing = mine.reserve({("p", "ann"): D("2")}, rules)

    assert standing[0].used == D(0)
    assert list(reserved(mine)) == [ids[("p", "ann")]]  # the lapsed one is gone


def test_nodes_reserving_at_once_never_together_go_over(
    ledger_where: Path | str, nodes: Callable[..., list[str]], open_ledger: OpenLedger
) -> None:
    open_ledger().close()  # the ledger exists before the nodes race for it
    owners = [f"node-{number}:1:n" for number in range(6)]

    printed = nodes(ledger_where, "reserve", owners, "1.00", "4.00")

    verdicts = sorted(line.split()[0] for line in printed)
    assert verdicts == ["over"] * 2 + ["reserved"] * 4
    assert sorted(line for line in printed if line.startswith("over")) == ["over 4", "over 4"]
    journal = open_ledger()
    with journal._read() as db:
        rows = db.execute("SELECT owner, amount FROM reservations").fetchall()
    assert len(rows) == 4
    assert sum(D(str(amount)) for _, amount in rows) == D("4.00")
    assert {owner for owner, _ in rows} <= set(owners)
    assert used(journal, "p") == D("4.00")
