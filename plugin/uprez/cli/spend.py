"""``uprez spend``: what the tasks on the ledger cost, by project, user, day or model; and, with
``--reconcile``, the ledger against the service's own list of the account's tasks."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from uprez.config import load_config
from uprez.errors import ConfigError
from uprez.journal.jobs import open_journal
from uprez.protocol import RETENTION_SECONDS
from uprez.spend import (
    GROUPINGS,
    SUBMITTING,
    ChargeLike,
    summarize,
    to_csv,
    to_json,
    to_table,
    utc_day,
)
from uprez.spend_reconcile import Reconciliation, reconcile, window_start
from uprez.wavespeed.configured import client_from_config
from uprez.wavespeed.listing import ListedTask, list_tasks
from uprez.wavespeed.lookup import iso

if TYPE_CHECKING:
    from uprez.config import Config

EPILOG = """\
Refunded charges (a failed task, which the service refunds, or a submit that made no task)
count for nothing; a submit still waiting for its answer counts as paid. Days are UTC dates.

--reconcile lists the account's tasks (every model) created since --since, or since 7 days ago,
and compares them with the ledger's: 'unknown' tasks were paid for by a machine that does not
write to this ledger, or their submit's answer was lost; 'missing' ones are on the ledger but
not listed (deleted, another account, or made at the window's edge as the two clocks see it);
tasks uprez deleted itself (privacy.delete_after_download) are left out of 'missing'.
The service keeps tasks 7 days, so the comparison never reaches further back. It exits 0
whatever it finds (read the 'N unknown' line, or --json's "reconcile.unknown"); 5 if the
service cannot list the tasks: a listing that fails is never read as "nothing there".
"""


def register(commands: Any) -> None:
    """Add the ``spend`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "spend",
        help="what the tasks on the ledger cost, by project, user, day or model",
        description="Sum the ledger's charges (one per task uprez submitted) by group.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--by", choices=GROUPINGS, default="project", help="how to group (default project)"
    )
    parser.add_argument(
        "--since",
        type=utc_date,
        metavar="YYYY-MM-DD",
        help="charges from this UTC date on (default: the whole ledger; with --reconcile, "
        "7 days ago)",
    )
    formats = parser.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="print JSON on stdout")
    formats.add_argument(
        "--csv", action="store_true", help="print CSV on stdout (not with --reconcile)"
    )
    parser.add_argument(
        "--reconcile",
        action="store_true",
        help="also compare the ledger with the service's list of the account's tasks",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="a TOML or JSON config file (default: $UPREZ_CONFIG)"
    )
    parser.set_defaults(handler=run)


def utc_date(text: str) -> float:
    """``YYYY-MM-DD`` as the unix time of that date's first UTC second."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None
    return day.timestamp()


def run(args: argparse.Namespace) -> int:
    """Print the spend report, and the reconciliation when asked."""
    if args.csv and args.reconcile:
        raise ConfigError("--csv holds the spend table only; use --json with --reconcile")
    config = load_config(args.config)
    journal = open_journal(config)
    if journal is None:
        print("the journal is off (journal.enabled = false): there is no ledger to sum")
        return 0
    now = time.time()
    since: float | None = args.since
    window: _Window | None = None
    if args.reconcile:
        since = now - RETENTION_SECONDS if since is None else since
        window = _Window(window_start(since, now), now)
    try:
        # The service is asked before the ledger is read: a task submitted in between is then
        # on the ledger (and left out, as made after the listing), never "unknown".
        service, listed = _list_account(config, window) if window is not None else ("", [])
        charges: Sequence[ChargeLike] = journal.charges(since=since)
        deleted = journal.tasks_deleted(service) if window is not None else set()
    finally:
        journal.close()
    lines = summarize(charges, args.by)
    check = None
    if window is not None:  # only the charges of tasks sent to the service that was listed
        sent_there = [charge for charge in charges if charge.account == service]
        check = _Check.of(sent_there, listed, window, deleted)
    if args.json:
        report = {**to_json(lines, args.by), "since": None if since is None else iso(since)}
        if check is not None:
            report["reconcile"] = check.to_json()
        print(json.dumps(report, indent=2))
    elif args.csv:
        print(to_csv(lines, args.by), end="")
    else:
        print(f"charges {_since(since)}, by {args.by}:")
        print(to_table(lines, args.by))
        if check is not None:
            print()
            check.show()
    return 0


def _since(moment: float | None) -> str:
    if moment is None:
        return "on the whole ledger"
    if moment % 86400 == 0:
        return f"since {utc_day(moment)} (UTC)"
    return f"since {iso(moment)}"


@dataclass(frozen=True)
class _Window:
    """The creation times a reconciliation compares (unix seconds)."""

    start: float
    until: float

    def holds(self, charge: ChargeLike) -> bool:
        return self.start <= charge.created <= self.until


def _list_account(config: Config, window: _Window) -> tuple[str, list[ListedTask]]:
    """The service's name as the ledger's charges give it (a provider's ``identity``), and
    the account's tasks of every model created in ``window``, as the service lists them."""
    client = client_from_config(config, paced=False)
    try:
        listed = list_tasks(client.connection, None, window.start, window.until)
    finally:
        client.session.close()
    return f"wavespeed {client.base_url}", listed


@dataclass(frozen=True)
class _Check:
    """A reconciliation, with the window and the ledger's charges it speaks of."""

    result: Reconciliation
    window: _Window
    on_ledger: dict[str, ChargeLike]
    unanswered: int
    #: Ledger tasks left out: uprez had the service delete them (so it lists them no more).
    deleted: int = 0

    @classmethod
    def of(
        cls,
        charges: Sequence[ChargeLike],
        listed: list[ListedTask],
        window: _Window,
        deleted: set[str] | None = None,
    ) -> _Check:
        inside = [charge for charge in charges if window.holds(charge)]
        known = {charge.task_id: charge for charge in inside if charge.task_id}
        gone = set(known) & (deleted or set())
        return cls(
            reconcile(set(known) - gone, listed),
            window,
            known,
            sum(1 for charge in inside if charge.state == SUBMITTING and not charge.task_id),
            len(gone),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "created_after": iso(self.window.start),
            "created_before": iso(self.window.until),
            **self.result.to_json(),
            "unanswered_submits": self.unanswered,
            "deleted_on_request": self.deleted,
        }

    def show(self) -> None:
        result = self.result
        print(
            f"reconciled with the service: tasks created {iso(self.window.start)} .. "
            f"{iso(self.window.until)}"
        )
        print(f"  {result.listed} listed by the service, {result.on_ledger} on the ledger")
        print(f"  {len(result.unknown)} unknown: paid by a machine not on the ledger, or lost")
        for task in result.unknown:
            print(f"    {task.id}  {task.model or '-'}  {task.status}  {task.created_at or '-'}")
        if self.deleted:
            print(f"  {self.deleted} deleted by uprez after download, so no longer listed")
        print(f"  {len(result.missing)} missing: on the ledger, not listed by the service")
        for task_id in result.missing:
            charge = self.on_ledger[task_id]
            print(
                f"    {task_id}  {charge.project or '-'}  {charge.user_name or '-'}@"
                f"{charge.host or '-'}  {iso(charge.created)}"
            )
        if self.unanswered:
            print(
                f"  {self.unanswered} submit(s) on the ledger got no answer: their tasks, if "
                "any, are among the unknown"
            )
