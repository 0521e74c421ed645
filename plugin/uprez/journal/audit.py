"""The ``audit`` table: every file uprez sent to a service, and every deletion of a task there
(which waits while a node is still collecting the task: :mod:`.collectors`).

An upload row is written before the first byte leaves (``sending``), becomes ``sent`` once the
service has the file, or ``failed`` when the send broke off (some bytes may have left, so the
row stays). Its task id is filled in when a task is submitted for that very upload. A delete row
is ``pending`` from the moment a deletion is due until the service confirms it (``done``, which
also stamps ``deleted_at`` on the uploads the task read); a pending one is retried by the next
run. Only hosts are kept, never URLs: a signed URL's query string is a capability. The key is
never here. Times are the ledger's clock, so the rows of every machine sort together.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from uprez.journal.database import Database
from uprez.journal.engine import Session
from uprez.journal.leases import HOST

UPLOAD, DELETE = "upload", "delete"
SENDING, SENT, FAILED = "sending", "sent", "failed"
PENDING, DONE = "pending", "done"
_COLUMNS = (
    "id, kind, state, service, job_key, idx, task_id, path, source, sha256, bytes, host, "
    "project, user_name, machine, at, expires, deleted_at, deleted_by, attempts, error"
)
# A URL's query string and fragment, where signatures and tokens live.
_QUERY = re.compile(r"(\bhttps?://[^\s?#]*)[?#]\S*")
_ERROR_CHARS = 300


@dataclass(frozen=True)
class Sending:
    """A file about to leave the machine: what it is, where it goes, for whom."""

    service: str  # where the task will live (the provider's identity)
    job_key: str
    idx: int
    path: str  # the file sent: a segment cut from the source, or the source itself
    source: str  # the job's source
    sha256: str  # of the bytes sent
    size: int
    host: str  # the host the bytes go to (host[:port])
    project: str
    user: str
    retention: float  # seconds the service keeps an upload


@dataclass(frozen=True)
class AuditRow:
    """One row of the audit (see the module's documentation for kinds and states)."""

    id: str
    kind: str
    state: str
    service: str
    job_key: str | None
    idx: int | None
    task_id: str | None
    path: str | None
    source: str | None
    sha256: str | None
    bytes: int | None
    host: str | None
    project: str
    user_name: str
    machine: str
    at: float
    expires: float | None
    deleted_at: float | None
    deleted_by: str | None
    attempts: int
    error: str | None


def upload_ref(url: str) -> str:
    """What links an upload to the task that reads it: a digest of the URL the service reads it
    from (the URL itself may carry a signature, which the audit never keeps)."""
    return hashlib.sha256(url.encode()).hexdigest()


def scrub(text: str) -> str:
    """``text`` without any URL's query string or fragment, cut to a few hundred characters."""
    return _QUERY.sub(r"\1", text)[:_ERROR_CHARS]


class Audit(Database):
    """The ledger's audit of what left the machine, and of what the services were told to
    forget."""

    # -- uploads -------------------------------------------------------------------------------

    def audit_sending(self, sending: Sending) -> str:
        """Record a file about to be sent; return the row's id."""
        row_id = secrets.token_hex(8)
        with self._write() as db:
            now = db.now()
            db.execute(
                "INSERT INTO audit (id, kind, state, service, job_key, idx, path, source, sha256, "
                "bytes, host, project, user_name, machine, at, expires) "
                "VALUES (?, 'upload', 'sending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row_id,
                    sending.service,
                    sending.job_key,
                    sending.idx,
                    sending.path,
                    sending.source,
                    sending.sha256,
                    sending.size,
                    sending.host,
                    sending.project,
                    sending.user,
                    HOST,
                    now,
                    now + sending.retention,
                ),
            )
        return row_id

    def audit_sent(self, row_id: str, url: str) -> None:
        """The service has the file, and reads it from ``url`` (only its digest is kept)."""
        with self._write() as db:
            db.execute(
                "UPDATE audit SET state = 'sent', upload_ref = ? WHERE id = ?",
                (upload_ref(url), row_id),
            )

    def audit_send_failed(self, row_id: str, error: str) -> None:
        """The send broke off (part of the file may have left)."""
        with self._write() as db:
            db.execute(
                "UPDATE audit SET state = 'failed', error = ? WHERE id = ?",
                (scrub(error), row_id),
            )

    def audit_task(self, key: str, idx: int, url: str, task_id: str) -> None:
        """A task was submitted for segment ``idx`` with the upload the service reads from
        ``url``: that upload's rows name it (an upload already named keeps its first task)."""
        with self._write() as db:
            db.execute(
                "UPDATE audit SET task_id = ? WHERE kind = 'upload' AND job_key = ? AND idx = ? "
                "AND upload_ref = ? AND task_id IS NULL",
                (task_id, key, idx, upload_ref(url)),
            )

    # -- deletions -----------------------------------------------------------------------------

    def queue_deletions(
        self, service: str, task_ids: Sequence[str], *, job_key: str, project: str, user: str
    ) -> list[str]:
        """Make the deletion of each of ``task_ids`` on ``service`` due (a task deleted or due
        already keeps its row: deleting once is enough); return those still pending."""
        with self._write() as db:
            now = db.now()
            for task_id in dict.fromkeys(task_ids):
                if _deletion(db, service, task_id) is None:
                    db.execute(
                        "INSERT INTO audit (id, kind, state, service, job_key, task_id, "
                        "project, user_name, machine, at) "
                        "VALUES (?, 'delete', 'pending', ?, ?, ?, ?, ?, ?, ?)",
                        (secrets.token_hex(8), service, job_key, task_id, project, user, HOST, now),
                    )
            return [
                task_id
                for task_id in dict.fromkeys(task_ids)
                if _deletion(db, service, task_id) == PENDING
            ]

    def pending_deletions(self, service: str) -> list[str]:
        """The tasks on ``service`` whose deletion is due and not yet confirmed, oldest first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT task_id FROM audit WHERE kind = 'delete' AND state = 'pending' "
                "AND service = ? ORDER BY at, id",
                (service,),
            ).fetchall()
        return [str(task_id) for (task_id,) in rows]

    def deletions_done(self, service: str, task_ids: Sequence[str]) -> None:
        """The service no longer holds these tasks (nor their inputs and outputs)."""
        with self._write() as db:
            now = db.now()
            for task_id in dict.fromkeys(task_ids):
                db.execute(
                    "UPDATE audit SET state = 'done', deleted_at = ?, deleted_by = ?, "
                    "attempts = attempts + 1, error = NULL "
                    "WHERE kind = 'delete' AND service = ? AND task_id = ? AND state = 'pending'",
                    (now, HOST, service, task_id),
                )
                db.execute(
                    "UPDATE audit SET deleted_at = ?, deleted_by = ? WHERE kind = 'upload' "
                    "AND service = ? AND task_id = ? AND deleted_at IS NULL",
                    (now, HOST, service, task_id),
                )

    def deletions_failed(self, service: str, task_ids: Sequence[str], error: str) -> None:
        """A try to delete these tasks failed: they stay pending, with the reason."""
        self._note_pending(service, task_ids, error, tried=True)

    def deletions_waiting(self, service: str, task_ids: Sequence[str], why: str) -> None:
        """These tasks were not tried yet (another node is still collecting them)."""
        self._note_pending(service, task_ids, why, tried=False)

    def _note_pending(
        self, service: str, task_ids: Sequence[str], why: str, *, tried: bool
    ) -> None:
        with self._write() as db:
            for task_id in dict.fromkeys(task_ids):
                db.execute(
                    f"UPDATE audit SET error = ?, attempts = attempts + {int(tried)} "
                    "WHERE kind = 'delete' AND service = ? AND task_id = ? AND state = 'pending'",
                    (scrub(why), service, task_id),
                )

    def deleted_on_request(self, service: str, task_id: str) -> AuditRow | None:
        """The confirmed deletion of ``task_id`` on ``service``, if uprez asked for one."""
        with self._read() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM audit WHERE kind = 'delete' AND state = 'done' "
                "AND service = ? AND task_id = ?",
                (service, task_id),
            ).fetchone()
        return None if row is None else _row(row)

    def tasks_deleted(self, service: str) -> set[str]:
        """The tasks on ``service`` that uprez had deleted (so the service no longer lists
        them, by request)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT task_id FROM audit WHERE kind = 'delete' AND state = 'done' "
                "AND service = ?",
                (service,),
            ).fetchall()
        return {str(task_id) for (task_id,) in rows}

    # -- reading -------------------------------------------------------------------------------

    def audit_rows(self, since: float | None = None, project: str | None = None) -> list[AuditRow]:
        """The audit from ``since`` (unix seconds; all when None), of ``project`` (every one
        when None), oldest first."""
        sql = f"SELECT {_COLUMNS} FROM audit WHERE at >= ?"
        params: list[object] = [since if since is not None else 0.0]
        if project is not None:
            sql += " AND project = ?"
            params.append(project)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY at, id", params).fetchall()
        return [_row(row) for row in rows]


def _deletion(db: Session, service: str, task_id: str) -> str | None:
    """The state of the deletion of ``task_id`` on ``service``, if one was asked for."""
    row = db.execute(
        "SELECT state FROM audit WHERE kind = 'delete' AND service = ? AND task_id = ?",
        (service, task_id),
    ).fetchone()
    return None if row is None else str(row[0])


def _row(row: Sequence[Any]) -> AuditRow:
    (
        row_id, kind, state, service, job_key, idx, task_id, path, source, sha256, size, host,
        project, user, machine, at, expires, deleted_at, deleted_by, attempts, error,
    ) = row  # fmt: skip
    return AuditRow(
        id=row_id,
        kind=kind,
        state=state,
        service=service,
        job_key=job_key,
        idx=None if idx is None else int(idx),
        task_id=task_id,
        path=path,
        source=source,
        sha256=sha256,
        bytes=None if size is None else int(size),
        host=host,
        project=project,
        user_name=user,
        machine=machine,
        at=float(at),
        expires=None if expires is None else float(expires),
        deleted_at=None if deleted_at is None else float(deleted_at),
        deleted_by=deleted_by,
        attempts=int(attempts or 0),
        error=error,
    )
