"""The ``jobs`` table: one row per job (its source, output, plan, status and cost), created
with a row per planned segment."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from uprez.journal.database import Database
from uprez.journal.leases import HOST
from uprez.media.remote import Source


class JobTable(Database):
    """The journal's jobs."""

    def open_job(
        self,
        key: str,
        *,
        source: Source,
        source_hash: str,
        output: Path,
        model: str,
        plan: list[dict[str, Any]],
    ) -> str:
        """Record a job (or find it); return its status (``new`` when it was not known)."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT status FROM jobs WHERE key = ?", (key,)).fetchone()
            if row is not None:
                # The same content under another name is the same work: paid once.
                db.execute(
                    "UPDATE jobs SET updated = ?, source = ?, output = ? WHERE key = ?",
                    (now, str(source), str(output), key),
                )
                return str(row[0])
            job = {
                "key": key,
                "source": str(source),
                "source_hash": source_hash,
                "output": str(output),
                "model": model,
                "plan": json.dumps(plan),
                "status": "running",
                "created": now,
                "updated": now,
            }
            self._insert(db, "jobs", job)
            for number in range(len(plan)):
                self._insert(db, "segments", {"job_key": key, "idx": number, "state": "new"})
            return "new"

    def finish_job(
        self, key: str, *, status: str, cost: str | None = None, error: str | None = None
    ) -> None:
        """Record how a job ended (``done`` or ``failed``)."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET status = ?, cost = ?, error = ?, updated = ? WHERE key = ?",
                (status, cost, error, time.time(), key),
            )

    def record_result(self, key: str, source: Source, output: Path) -> None:
        """This machine handed the result of job ``key`` over at ``output``, from ``source``."""
        with self._write() as db:
            db.execute(
                "INSERT INTO results (host, output, job_key, source, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (host, output) DO UPDATE SET job_key = excluded.job_key, "
                "source = excluded.source, at = excluded.at",
                (HOST, str(output), key, str(source), time.time()),
            )

    def result_here(self, key: str) -> Path | None:
        """Where this machine last put job ``key``'s result (a ledger shared by machines keeps
        each one's own); from a file of a version before that, the job's own record."""
        with self._read() as db:
            row = db.execute(
                "SELECT output FROM results WHERE job_key = ? AND host = ? ORDER BY at DESC",
                (key, HOST),
            ).fetchone()
            if row is None and not self.engine.shared:
                row = db.execute(
                    "SELECT output FROM jobs WHERE key = ? AND status = 'done'", (key,)
                ).fetchone()
        return Path(row[0]) if row and row[0] else None

    def job(self, key: str) -> dict[str, Any] | None:
        """A job's record, or None."""
        with self._read() as db:
            cursor = db.execute("SELECT * FROM jobs WHERE key = ?", (key,))
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        return dict(zip(names, row, strict=True)) if row else None

    def task_ids(self, key: str) -> list[str | None]:
        """Each segment's task id, in order."""
        with self._read() as db:
            rows = db.execute(
                "SELECT task_id FROM segments WHERE job_key = ? ORDER BY idx", (key,)
            ).fetchall()
        return [row[0] for row in rows]

    def done_job_for(self, source: Source, output: Path) -> dict[str, Any] | None:
        """The newest successful job that this machine made ``output`` with from ``source``,
        or None."""
        with self._read() as db:
            cursor = db.execute(
                "SELECT jobs.* FROM results JOIN jobs ON jobs.key = results.job_key "
                "WHERE results.host = ? AND results.output = ? AND results.source = ? "
                "AND jobs.status = 'done' ORDER BY results.at DESC LIMIT 1",
                (HOST, str(output), str(source)),
            )
            row = cursor.fetchone()
            if row is None and not self.engine.shared:  # a file from before results were kept
                cursor = db.execute(
                    "SELECT * FROM jobs WHERE source = ? AND output = ? AND status = 'done' "
                    "ORDER BY updated DESC LIMIT 1",
                    (str(source), str(output)),
                )
                row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        return dict(zip(names, row, strict=True)) if row else None

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest jobs, newest first, each with its segments' task ids and states."""
        with self._read() as db:
            cursor = db.execute(
                "SELECT key, source, output, model, status, cost, error, created, updated "
                "FROM jobs ORDER BY updated DESC LIMIT ?",
                (limit,),
            )
            names = [d[0] for d in cursor.description]
            jobs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            for job in jobs:
                rows = db.execute(
                    "SELECT idx, state, task_id FROM segments WHERE job_key = ? ORDER BY idx",
                    (job["key"],),
                ).fetchall()
                job["segments"] = [{"index": i, "state": s, "task_id": t} for i, s, t in rows]
        return jobs
