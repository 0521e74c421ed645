"""The ``segments`` table: each segment's upload, who is submitting it, and its task id; and
the claim that lets exactly one process, across processes and machines, submit a segment's
task. A claim is a lease (:mod:`.leases`): it lapses when its holder stops renewing it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from uprez.journal.charges import refund_pending
from uprez.journal.database import Database
from uprez.journal.engine import Session
from uprez.journal.leases import holder_alive, pid_alive

# Segments this process is submitting right now (another thread may ask about them).
_SUBMITTING: set[tuple[str, int]] = set()
_SEGMENT_FIELDS = frozenset(
    {"state", "upload_url", "uploaded_at", "submit_pid", "submit_at", "task_id", "claim_owner"}
)


@dataclass(frozen=True)
class SegmentRow:
    """A segment's record."""

    job_key: str
    idx: int
    state: str
    upload_url: str | None
    uploaded_at: float | None
    submit_pid: int | None
    submit_at: float | None
    task_id: str | None
    claim_owner: str | None = None
    lease_until: float | None = None


class SegmentTable(Database):
    """The journal's segments."""

    def segment(self, key: str, idx: int) -> SegmentRow:
        """A segment's record."""
        with self._read() as db:
            return self._row(db, key, idx)

    def update_segment(self, key: str, idx: int, **fields: Any) -> None:
        """Write fields of a segment's record."""
        done_submitting = "task_id" in fields or fields.get("state") not in (None, "submitting")
        unknown = set(fields) - _SEGMENT_FIELDS
        if unknown:
            raise ValueError(f"unknown segment fields {sorted(unknown)}")
        if not fields:
            raise ValueError("no segment fields to write")
        names = ", ".join(f"{name} = ?" for name in fields)
        with self._write() as db:
            db.execute(
                f"UPDATE segments SET {names} WHERE job_key = ? AND idx = ?",
                (*fields.values(), key, idx),
            )
        if done_submitting:  # only once the record says so may another thread look
            _SUBMITTING.discard((key, idx))

    def record_upload(self, key: str, idx: int, url: str) -> None:
        """Note an upload's URL without undoing a later state (another worker may be ahead)."""
        with self._write() as db:
            db.execute(
                "UPDATE segments SET upload_url = ?, uploaded_at = ?, "
                "state = CASE WHEN state = 'new' THEN 'uploaded' ELSE state END "
                "WHERE job_key = ? AND idx = ?",
                (url, time.time(), key, idx),
            )

    def release_claim(self, key: str, idx: int, *, reset: bool) -> None:
        """This process no longer submits the segment; ``reset`` records that no task exists.
        Without it (a task may exist) the claim lapses at once, so whoever comes next looks
        for the task instead of waiting for this process."""
        _SUBMITTING.discard((key, idx))
        with self._write() as db:
            if reset:
                db.execute(
                    "UPDATE segments SET state = 'uploaded', submit_pid = NULL, "
                    "claim_owner = NULL, lease_until = NULL "
                    "WHERE job_key = ? AND idx = ? AND task_id IS NULL",
                    (key, idx),
                )
            else:
                db.execute(
                    "UPDATE segments SET lease_until = 0 "
                    "WHERE job_key = ? AND idx = ? AND claim_owner = ?",
                    (key, idx, self.owner),
                )

    def claim_submit(self, key: str, idx: int) -> tuple[str, SegmentRow]:
        """Decide, atomically across processes and machines, who may submit a segment's task.

        Returns ``("submit", row)`` when this process may (the record now says "submitting",
        claimed by this process for a lease), ``("known", row)`` when a task id exists,
        ``("busy", row)`` while another holder's claim is alive, or ``("lost", row)`` when
        the holder died while submitting: the task may exist, and must be looked for before
        anything is sent again (:meth:`take_over`).
        """
        with self._write() as db:
            row = self._row(db, key, idx)
            if row.task_id:
                return "known", row
            now = db.now()
            if row.state == "submitting":
                mine = row.claim_owner == self.owner or (
                    row.claim_owner is None and row.submit_pid == os.getpid()
                )
                if (mine and (key, idx) in _SUBMITTING) or (
                    not mine and self.claim_alive(row, now)
                ):
                    return "busy", row
                return "lost", row
            self._claim(db, key, idx, now)
            return "submit", self._row(db, key, idx)

    def take_over(self, row: SegmentRow) -> bool:
        """Claim a lost submission for this process, unless someone else took it first (then
        False: claim again to see who has it)."""
        with self._write() as db:
            now = db.now()
            current = self._row(db, row.job_key, row.idx)
            same = (
                current.task_id is None
                and current.state == "submitting"
                and current.claim_owner == row.claim_owner
                and current.submit_at == row.submit_at
            )
            if not same or self.claim_alive(current, now):
                return False
            # The lost attempt made no task (the caller looked): its charge costs nothing.
            refund_pending(db, row.job_key, row.idx)
            self._claim(db, row.job_key, row.idx, now)
            return True

    def claim_alive(self, row: SegmentRow, now: float) -> bool:
        """True while the claim on ``row`` holds: its lease renewed in time (a record from
        before leases: its pid still running on this machine)."""
        if row.claim_owner is None:
            return pid_alive(row.submit_pid)
        return holder_alive(row.claim_owner, row.lease_until, now)

    def _claim(self, db: Session, key: str, idx: int, now: float) -> None:
        _SUBMITTING.add((key, idx))
        db.execute(
            "UPDATE segments SET state = 'submitting', submit_pid = ?, submit_at = ?, "
            "claim_owner = ?, lease_until = ? WHERE job_key = ? AND idx = ?",
            (os.getpid(), now, self.owner, now + self.lease_seconds, key, idx),
        )
        self._heartbeat.need()

    def _row(self, db: Session, key: str, idx: int) -> SegmentRow:
        row = db.execute(
            "SELECT job_key, idx, state, upload_url, uploaded_at, submit_pid, submit_at, "
            "task_id, claim_owner, lease_until FROM segments WHERE job_key = ? AND idx = ?",
            (key, idx),
        ).fetchone()
        if row is None:
            raise KeyError(f"no segment {idx} of job {key}")
        return SegmentRow(*row)
