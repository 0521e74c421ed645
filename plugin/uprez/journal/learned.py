"""What the service taught, kept across runs: how long its tasks take (see
:mod:`uprez.wavespeed.eta`) and the largest upload it took (see :mod:`uprez.step.estimate`)."""

from __future__ import annotations

import time

from uprez.journal.database import Database


class Learned(Database):
    """Task rates and upload limits, per service."""

    def task_rates(self, service: str, kind: str, limit: int) -> list[float]:
        """The latest ``limit`` rates (service seconds per unit of work), oldest first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT rate FROM task_rates WHERE service = ? AND kind = ? "
                "ORDER BY at DESC LIMIT ?",
                (service, kind, limit),
            ).fetchall()
        return [rate for (rate,) in reversed(rows)]

    def add_task_rate(self, service: str, kind: str, rate: float) -> None:
        """Remember one finished task's rate; only the latest hundred per service are kept."""
        with self._write() as db:
            db.execute(
                "INSERT INTO task_rates (service, kind, rate, at) VALUES (?, ?, ?, ?)",
                (service, kind, rate, time.time()),
            )
            db.execute(
                "DELETE FROM task_rates WHERE service = ? AND kind = ? AND at < ("
                "SELECT at FROM task_rates WHERE service = ? AND kind = ? "
                "ORDER BY at DESC LIMIT 1 OFFSET 99)",
                (service, kind, service, kind),
            )

    def upload_limit(self, service: str) -> int | None:
        """The upload size limit learned from ``service``'s refusals, if any."""
        with self._read() as db:
            row = db.execute(
                "SELECT max_bytes FROM upload_limits WHERE service = ?", (service,)
            ).fetchone()
        return int(row[0]) if row else None

    def learn_upload_limit(self, service: str, max_bytes: int) -> None:
        """Remember that ``service`` refuses uploads over ``max_bytes`` (only ever lowered)."""
        with self._write() as db:
            self._insert(
                db,
                "upload_limits",
                {"service": service, "max_bytes": max_bytes},
                "ON CONFLICT (service) DO UPDATE SET "
                "max_bytes = CASE WHEN excluded.max_bytes < upload_limits.max_bytes "
                "THEN excluded.max_bytes ELSE upload_limits.max_bytes END",
            )
