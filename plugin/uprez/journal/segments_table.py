"""The ``segments`` table: each segment's upload, who is submitting it, and its task id; and
the claim that lets exactly one process, across processes, submit a segment's task."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from uprez.journal.database import Database

# Segments this process is submitting right now (another thread may ask about them).
_SUBMITTING: set[tuple[str, int]] = set()
_SEGMENT_FIELDS = frozenset(
    {"state", "upload_url", "uploaded_at", "submit_pid", "submit_at", "task_id"}
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


def pid_alive(pid: int | None) -> bool:
    """True when a process with this id still runs on this machine."""
    if not pid or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        """This process no longer submits the segment; ``reset`` records that no task exists."""
        _SUBMITTING.discard((key, idx))
        if reset:
            with self._write() as db:
                db.execute(
                    "UPDATE segments SET state = 'uploaded', submit_pid = NULL "
                    "WHERE job_key = ? AND idx = ? AND task_id IS NULL",
                    (key, idx),
                )

    def claim_submit(self, key: str, idx: int) -> tuple[str, SegmentRow]:
        """Decide, atomically across processes, who may submit a segment's task.

        Returns ``("submit", row)`` when this process may (the record now says "submitting"
        by this pid), ``("known", row)`` when a task id exists, ``("busy", row)`` when another
        live process is submitting, or ``("lost", row)`` when a process died while submitting:
        the task may exist, and must be looked for before anything is sent again.
        """
        with self._write() as db:
            row = self._row(db, key, idx)
            if row.task_id:
                return "known", row
            if row.state == "submitting":
                mine = row.submit_pid == os.getpid()
                if (mine and (key, idx) in _SUBMITTING) or (not mine and pid_alive(row.submit_pid)):
                    return "busy", row
                return "lost", row
            _SUBMITTING.add((key, idx))
            db.execute(
                "UPDATE segments SET state = 'submitting', submit_pid = ?, submit_at = ? "
                "WHERE job_key = ? AND idx = ?",
                (os.getpid(), time.time(), key, idx),
            )
            return "submit", self._row(db, key, idx)

    def _row(self, db: sqlite3.Connection, key: str, idx: int) -> SegmentRow:
        row = db.execute(
            "SELECT job_key, idx, state, upload_url, uploaded_at, submit_pid, submit_at, "
            "task_id FROM segments WHERE job_key = ? AND idx = ?",
            (key, idx),
        ).fetchone()
        if row is None:
            raise KeyError(f"no segment {idx} of job {key}")
        return SegmentRow(*row)
