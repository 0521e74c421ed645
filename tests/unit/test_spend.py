"""The spend report's sums (by project, user, UTC day and model; refunds count for nothing;
money exact to the cent), its JSON, CSV and table, and the reconciliation of the ledger with
the service's listing."""

from __future__ import annotations

import csv
import io
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from uprez.protocol import RETENTION_SECONDS
from uprez.spend import (
    GROUPINGS,
    SpendLine,
    summarize,
    to_csv,
    to_json,
    to_table,
    total,
)
from uprez.spend_reconcile import RETENTION_MARGIN, reconcile, window_start
from uprez.wavespeed.listing import ListedTask


@dataclass(frozen=True)
class Row:
    """A charge as the ledger gives it (the fields of ``uprez.journal.charges.Charge``)."""

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


def at(text: str) -> float:
    """An ISO 8601 UTC time as unix seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


_MADE = itertools.count(1)


def charge(
    project: str = "alpha",
    *,
    user: str = "ana",
    model: str = "runwayml/upscale-v1",
    seconds: int = 5,
    cost: str = "0.10",
    state: str = "submitted",
    created: str = "2030-01-02T12:00:00",
    task_id: str | None = None,
) -> Row:
    made = next(_MADE)
    return Row(
        id=f"c{made}",
        job_key=f"job{made}",
        idx=0,
        task_id=task_id if task_id is not None or state == "submitting" else f"t{made}",
        state=state,
        account="acct",
        model=model,
        project=project,
        user_name=user,
        host="render-01",
        billed_seconds=seconds,
        cost=Decimal(cost),
        created=at(created),
    )


LEDGER = [
    charge("beta", user="bo", seconds=15, cost="0.30"),
    charge("alpha", user="ana", seconds=5, cost="0.10"),
    charge("alpha", user="bo", seconds=60, cost="1.20", model="vendor/other"),
    charge("alpha", user="ana", seconds=600, cost="12.00", state="refunded"),
    charge("beta", user="ana", seconds=5, cost="0.10", state="submitting"),
]


# -- summarize and total ----------------------------------------------------------------------


def test_lines_by_project_count_tasks_seconds_and_cost_sorted_by_key() -> None:
    assert summarize(LEDGER, "project") == [
        SpendLine("alpha", tasks=2, billed_seconds=65, cost=Decimal("1.30")),
        SpendLine("beta", tasks=2, billed_seconds=20, cost=Decimal("0.40")),
    ]


def test_a_refunded_charge_is_left_out_of_tasks_seconds_and_cost() -> None:
    refunded = [charge("gamma", seconds=600, cost="12.00", state="refunded")]

    assert summarize(refunded, "project") == []
    assert summarize([*refunded, charge("gamma")], "project") == [
        SpendLine("gamma", 1, 5, Decimal("0.10"))
    ]


def test_a_submit_still_waiting_for_its_answer_counts_as_paid() -> None:
    waiting = charge("delta", seconds=15, cost="0.30", state="submitting")

    assert summarize([waiting], "project") == [SpendLine("delta", 1, 15, Decimal("0.30"))]


def test_lines_by_user_and_by_model() -> None:
    assert summarize(LEDGER, "user") == [
        SpendLine("ana", 2, 10, Decimal("0.20")),
        SpendLine("bo", 2, 75, Decimal("1.50")),
    ]
    assert summarize(LEDGER, "model") == [
        SpendLine("runwayml/upscale-v1", 3, 25, Decimal("0.50")),
        SpendLine("vendor/other", 1, 60, Decimal("1.20")),
    ]


def test_charges_that_name_no_project_are_grouped_as_none() -> None:
    lines = summarize([charge(""), charge("")], "project")

    assert lines == [SpendLine("(none)", 2, 10, Decimal("0.20"))]


def test_days_are_utc_dates_split_at_utc_midnight() -> None:
    charges = [
        charge(created="2030-01-01T23:59:59", cost="0.10"),
        charge(created="2030-01-02T00:00:00", cost="0.30", seconds=15),
        charge(created="2030-01-02T23:59:59.999", cost="1.20", seconds=60),
    ]

    assert summarize(charges, "day") == [
        SpendLine("2030-01-01", 1, 5, Decimal("0.10")),
        SpendLine("2030-01-02", 2, 75, Decimal("1.50")),
    ]


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local time is UTC-10, where UTC's small hours are the day before."""
    monkeypatch.setenv("TZ", "Pacific/Honolulu")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
def test_days_do_not_follow_the_machines_time_zone() -> None:
    lines = summarize([charge(created="2030-01-02T03:00:00")], "day")

    assert [line.key for line in lines] == ["2030-01-02"]


def test_costs_add_up_exactly_to_the_cent() -> None:
    # As floats, 0.1 + 0.1 + 0.1 is 0.30000000000000004; a thousand 0.02s drift further.
    tens = [charge(cost="0.10") for _ in range(3)]
    many = [charge("many", cost="0.02") for _ in range(1000)]

    [line] = summarize(tens, "project")
    [lots] = summarize(many, "project")

    assert line.cost == Decimal("0.30") and str(line.cost) == "0.30"
    assert lots.cost == Decimal("20.00") and str(lots.cost) == "20.00"


def test_costs_are_shown_to_the_cent_rounding_half_up() -> None:
    lines = summarize([charge("a", cost="0.125"), charge("b", cost="6")], "project")

    assert [str(line.cost) for line in lines] == ["0.13", "6.00"]


def test_the_total_sums_the_lines() -> None:
    lines = summarize(LEDGER, "project")

    assert total(lines) == SpendLine("total", 4, 85, Decimal("1.70"))
    assert total([]) == SpendLine("total", 0, 0, Decimal("0.00"))


def test_an_unknown_grouping_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="project, user, day, model"):
        summarize(LEDGER, "host")
    assert GROUPINGS == ("project", "user", "day", "model")


# -- renderings -------------------------------------------------------------------------------


def test_csv_has_a_header_a_row_per_line_and_a_total_row() -> None:
    text = to_csv(summarize(LEDGER, "user"), "user")

    assert list(csv.reader(io.StringIO(text))) == [
        ["user", "tasks", "billed_seconds", "cost"],
        ["ana", "2", "10", "0.20"],
        ["bo", "2", "75", "1.50"],
        ["total", "4", "85", "1.70"],
    ]


def test_csv_quotes_a_key_with_a_comma() -> None:
    text = to_csv(summarize([charge("shots, reel 2")], "project"), "project")

    assert list(csv.reader(io.StringIO(text)))[1] == ["shots, reel 2", "1", "5", "0.10"]


def test_json_holds_the_lines_and_the_total_with_costs_as_decimal_strings() -> None:
    report = json.loads(json.dumps(to_json(summarize(LEDGER, "day"), "day")))

    assert report == {
        "by": "day",
        "currency": "USD",
        "lines": [{"day": "2030-01-02", "tasks": 4, "billed_seconds": 85, "cost": "1.70"}],
        "total": {"tasks": 4, "billed_seconds": 85, "cost": "1.70"},
    }


def test_the_table_aligns_its_columns_and_ends_with_the_total() -> None:
    table = to_table(summarize(LEDGER, "model"), "model")

    assert table.splitlines() == [
        "model                tasks  billed s   USD",
        "-------------------  -----  --------  ----",
        "runwayml/upscale-v1      3        25  0.50",
        "vendor/other             1        60  1.20",
        "-------------------  -----  --------  ----",
        "total                    4        85  1.70",
    ]


def test_an_empty_table_still_shows_a_zero_total() -> None:
    assert to_table([], "project").splitlines()[-1] == "total        0         0  0.00"


# -- reconciliation ---------------------------------------------------------------------------


def listed(task_id: str, status: str = "completed") -> ListedTask:
    return ListedTask(task_id, "runwayml/upscale-v1", status, "2030-01-02T12:00:00.000Z")


def test_tasks_the_ledger_does_not_know_are_unknown_in_the_listings_order() -> None:
    result = reconcile({"t1", "t2"}, [listed("x9"), listed("t2"), listed("x1", "failed")])

    assert [task.id for task in result.unknown] == ["x9", "x1"]
    assert result.unknown[1].status == "failed"


def test_ledger_tasks_the_listing_does_not_show_are_missing_sorted() -> None:
    result = reconcile({"t3", "t1", "t2"}, [listed("t2")])

    assert result.missing == ("t1", "t3")
    assert (result.listed, result.on_ledger) == (1, 3)


def test_a_ledger_and_a_listing_that_agree_have_nothing_unknown_or_missing() -> None:
    result = reconcile({"a", "b"}, [listed("b"), listed("a"), listed("a")])

    assert (result.unknown, result.missing) == ((), ())
    assert result.listed == 2  # a task listed twice (pages shifting) is one task


def test_reconciliation_as_json() -> None:
    result = reconcile({"t1", "t2"}, [listed("x9"), listed("t2")])

    assert json.loads(json.dumps(result.to_json())) == {
        "listed": 2,
        "on_ledger": 2,
        "unknown": [
            {
                "id": "x9",
                "model": "runwayml/upscale-v1",
                "status": "completed",
                "created_at": "2030-01-02T12:00:00.000Z",
            }
        ],
        "missing": ["t1"],
    }


def test_the_window_never_reaches_back_past_what_the_service_keeps() -> None:
    now = at("2030-01-10T00:00:00")
    kept_from = now - RETENTION_SECONDS + RETENTION_MARGIN

    assert window_start(at("2029-12-01T00:00:00"), now) == kept_from
    assert window_start(now - RETENTION_SECONDS, now) == kept_from
    assert window_start(at("2030-01-09T00:00:00"), now) == at("2030-01-09T00:00:00")
