"""One segment's task as the journal knows it: what a provider reads and writes while it works."""

from __future__ import annotations

import logging
import os
import time

from uprez import interrupt
from uprez.errors import AmbiguousSubmit
from uprez.journal.segments_table import SegmentRow, pid_alive
from uprez.journal.store import Journal

log = logging.getLogger(__name__)
# An upload older than this may be gone: uploads are kept 7 days, but how long a ticket's
# download URL stays fetchable is undocumented and one official client trusts it for 24 h only.
UPLOAD_REUSE_SECONDS = 24 * 3600


class TaskRecord:
    """The journal's record of one segment, bound to its job; ``resubmit`` allows a deliberate
    second submission when an earlier one was lost and cannot be found."""

    def __init__(
        self, journal: Journal, job_key: str, index: int, *, resubmit: bool = False
    ) -> None:
        self.journal = journal
        self.job_key = job_key
        self.index = index
        self.resubmit = resubmit

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

    def claim_anew(self) -> None:
        """Take over a lost submission deliberately (``--resubmit``)."""
        self.journal.update_segment(
            self.job_key,
            self.index,
            state="submitting",
            submit_pid=os.getpid(),
            submit_at=time.time(),
        )

    def release(self, *, maybe_created: bool) -> None:
        """Give up this process's claim; with ``maybe_created`` false, the service answered that
        it made no task, so the next run may submit without looking first."""
        self.journal.release_claim(self.job_key, self.index, reset=not maybe_created)

    def submitted(self, task_id: str) -> None:
        """The task exists: never submit this segment again."""
        self.journal.update_segment(self.job_key, self.index, state="submitted", task_id=task_id)

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
        self.journal.update_segment(
            self.job_key, self.index, state="uploaded", task_id=None, submit_pid=None
        )

    def wait_for_other(self, deadline: float) -> str:
        """Wait while another process submits this segment; return the task id it got."""
        while time.monotonic() < deadline:
            row = self.row()
            if row.task_id:
                return row.task_id
            if row.state != "submitting" or not pid_alive(row.submit_pid):
                break
            interrupt.sleep(0.2)
        row = self.row()
        if row.task_id:
            return row.task_id
        raise AmbiguousSubmit(
            f"another uprez process (pid {row.submit_pid}) was submitting segment "
            f"{self.index + 1} and gave no task id; rerun to look for the task",
        )
