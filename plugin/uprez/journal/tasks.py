"""One segment's task as the journal knows it: what a provider reads and writes while it works."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from uprez import interrupt
from uprez.account import AccountLimits
from uprez.errors import JobTimeout, UprezError
from uprez.journal.audit import Sending
from uprez.journal.charges import Payer
from uprez.journal.segments_table import SegmentRow
from uprez.journal.store import Journal
from uprez.journal.turns import TurnTimeout

log = logging.getLogger(__name__)
# An upload older than this may be gone: uploads are kept 7 days, but how long a ticket's
# download URL stays fetchable is undocumented and one official client trusts it for 24 h only.
UPLOAD_REUSE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Price:
    """What one segment's task bills, and who pays it."""

    payer: Payer
    billed_seconds: int
    cost: Decimal


class TaskRecord:
    """The journal's record of one segment, bound to its job; ``resubmit`` allows a deliberate
    second submission when an earlier one was lost and cannot be found. With a ``price``, each
    task submitted is charged (``uprez spend``, budgets). ``source`` is the job's source, as
    the audit of each upload names it."""

    def __init__(
        self,
        journal: Journal,
        job_key: str,
        index: int,
        *,
        resubmit: bool = False,
        price: Price | None = None,
        source: str = "",
    ) -> None:
        self.journal = journal
        self.job_key = job_key
        self.index = index
        self.resubmit = resubmit
        self.price = price
        self.source = source

    def row(self) -> SegmentRow:
        """The segment's current record."""
        return self.journal.segment(self.job_key, self.index)

    def reusable_upload(self) -> str | None:
        """The URL of an earlier upload of this segment, if recent enough to reuse."""
        row = self.row()
        if (
            row.upload_url
            and row.uploaded_at
            and time.time() - row.uploaded_at < UPLOAD_REUSE_SECONDS
        ):
            return row.upload_url
        return None

    def uploaded(self, url: str) -> None:
        """The segment is on the service at ``url`` (a state already further on is kept)."""
        self.journal.record_upload(self.job_key, self.index, url)

    def sending(
        self, *, service: str, path: str, sha256: str, size: int, host: str, retention: float
    ) -> str:
        """Audit a file of this segment about to be sent to ``host`` (before its first byte
        goes: a ledger that cannot be written stops the send); return the audit row's id."""
        payer = self.price.payer if self.price is not None else None
        return self.journal.audit_sending(
            Sending(
                service=service,
                job_key=self.job_key,
                idx=self.index,
                path=path,
                source=self.source or path,
                sha256=sha256,
                size=size,
                host=host,
                project=payer.project if payer is not None else "",
                user=payer.user if payer is not None else "",
                retention=retention,
            )
        )

    def sent(self, audit_id: str, url: str) -> None:
        """The audited file is on the service, read from ``url``."""
        self.journal.audit_sent(audit_id, url)

    def send_failed(self, audit_id: str, error: str) -> None:
        """The audited send broke off."""
        self.journal.audit_send_failed(audit_id, error)

    def collecting(self, task_id: str) -> None:
        """This process waits on ``task_id`` and downloads its result: no deletion takes it
        away meanwhile (see :meth:`Journal.collecting`)."""
        self.journal.collecting(task_id)

    def collected(self, task_id: str) -> None:
        """This process is done with ``task_id`` at the service."""
        self.journal.collected(task_id)

    def deletion_note(self, service: str, task_id: str) -> str | None:
        """Who deleted ``task_id`` on ``service``, and when, if uprez did on purpose
        (``privacy.delete_after_download``): what to add to the error that finds it gone.
        None when it did not, or when the ledger cannot say (the error stands on its own)."""
        try:
            deleted = self.journal.deleted_on_request(service, task_id)
        except UprezError:
            return None
        if deleted is None or deleted.deleted_at is None:
            return None
        when = datetime.fromtimestamp(deleted.deleted_at, UTC).isoformat(timespec="seconds")
        return (
            f"{deleted.deleted_by or deleted.machine} deleted it at {when} once its result was "
            "downloaded there (privacy.delete_after_download)"
        )

    def forget_upload(self) -> None:
        """The service could not fetch the recorded upload: the next attempt uploads again."""
        self.journal.update_segment(self.job_key, self.index, upload_url=None, uploaded_at=None)

    def forget_task(self) -> None:
        """The service no longer knows the recorded task and the user allowed a new one
        (``--resubmit``): the next attempt uploads and submits."""
        # A service that forgot the task has most likely forgotten its input too.
        self.journal.update_segment(
            self.job_key,
            self.index,
            state="new",
            task_id=None,
            submit_pid=None,
            upload_url=None,
            uploaded_at=None,
        )

    def claim(self) -> tuple[str, SegmentRow]:
        """Who submits: see :meth:`Journal.claim_submit`."""
        return self.journal.claim_submit(self.job_key, self.index)

    def take_over(self, row: SegmentRow) -> bool:
        """Claim a lost submission (see :meth:`Journal.take_over`)."""
        return self.journal.take_over(row)

    def claim_age(self, row: SegmentRow) -> float:
        """Seconds since ``row``'s claim was made, by the ledger's clock."""
        return self.journal.now() - (row.submit_at or 0.0)

    def about_to_submit(self) -> None:
        """Charge the task about to be submitted (before it exists: a lost answer is
        counted too)."""
        if self.price is not None:
            price = self.price
            self.journal.charge(
                self.job_key, self.index, price.payer, price.billed_seconds, price.cost
            )

    def none_made(self) -> None:
        """What was charged for this segment made no task."""
        self.journal.charge_unmade(self.job_key, self.index)

    def take_turn(self, account: AccountLimits, deadline: float) -> None:
        """Wait for the account's turn to submit (tasks at once, submits a minute, shared by
        every process on this ledger). :class:`JobTimeout` when the deadline comes first."""
        try:
            self.journal.take_turn(
                account, self.job_key, self.index, deadline=deadline, sleep=interrupt.sleep
            )
        except TurnTimeout as exc:
            raise JobTimeout(
                f"waited {float(exc.args[0]):.0f} s for the account's turn (its tasks at once "
                "and submits a minute are shared by every uprez on this ledger) until the "
                "deadline; nothing was submitted: rerun the same command"
            ) from None

    def adopt_turn(self, account: AccountLimits) -> None:
        """Hold a slot for this segment's task while waiting on it (see
        :meth:`Journal.adopt_turn`)."""
        self.journal.adopt_turn(account, self.job_key, self.index)

    def end_turn(self) -> None:
        """This segment's task ended, or none was made: its slot is free."""
        self.journal.end_turn(self.job_key, self.index)

    def release(self, *, maybe_created: bool) -> None:
        """Give up this process's claim; with ``maybe_created`` false, the service answered that
        it made no task, so the next run may submit without looking first."""
        self.journal.release_claim(self.job_key, self.index, reset=not maybe_created)

    def submitted(self, task_id: str) -> None:
        """The task exists: never submit this segment again. A task found rather than made
        here, which no charge names yet (an older version made it), is charged now."""
        self.journal.update_segment(self.job_key, self.index, state="submitted", task_id=task_id)
        if not self.journal.charge_made(self.job_key, self.index, task_id):
            self.about_to_submit()
            self.journal.charge_made(self.job_key, self.index, task_id)
        upload = self.row().upload_url
        if upload:  # the audited upload the task reads now names it
            self.journal.audit_task(self.job_key, self.index, upload, task_id)

    def completed(self, outputs: list[str]) -> None:
        """The task finished. Its ``outputs`` are not kept: a rerun asks the service for the
        task again, which gives fresh URLs (the parameter stays for the callers)."""
        self.journal.update_segment(self.job_key, self.index, state="completed")

    def downloaded(self, path: str, size: int) -> None:
        """The result is on disk. Where, and how large, is not kept here: the work folder's
        record of a finished segment (:mod:`uprez.step.finished`) is what a rerun trusts, and
        it is written only once the segment is verified (the parameters stay for the callers)."""
        self.journal.update_segment(self.job_key, self.index, state="downloaded")

    def task_failed(self, message: str) -> None:
        """The task ended without a result (the service refunds it): a rerun submits anew.
        The ``message`` is not kept: it reaches the user in the error the caller raises."""
        task_id = self.row().task_id
        if task_id:
            self.journal.charge_refunded(task_id)
        self.journal.update_segment(
            self.job_key, self.index, state="uploaded", task_id=None, submit_pid=None
        )

    def wait_for_other(self, deadline: float) -> str | None:
        """Wait while another process or machine submits this segment; return the task id it
        got, or None when its claim lapsed without one (claim again: it is then "lost")."""
        while time.monotonic() < deadline:
            row = self.row()
            if row.task_id:
                return row.task_id
            if row.state != "submitting" or not self.journal.claim_alive(row, self.journal.now()):
                return None
            interrupt.sleep(0.2)
        raise JobTimeout(
            f"another uprez was still submitting segment {self.index + 1} at the deadline; "
            "rerun to collect its task"
        )
