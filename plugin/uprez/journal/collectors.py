"""The ``collectors`` table: which processes are waiting on a task or downloading its result,
each as a lease renewed by its heartbeat, so that no deletion (``privacy.delete_after_download``)
pulls a result from under a node that is still collecting it. A node that dies stops renewing,
and its lease lapses after ``lease_seconds`` (at once, on its own machine, with its pid).
"""

from __future__ import annotations

from collections.abc import Sequence

from uprez.journal.database import Database
from uprez.journal.leases import holder_alive


class Collectors(Database):
    """Who is collecting which task."""

    def collecting(self, task_id: str) -> None:
        """This process is waiting on ``task_id`` or downloading its result: no deletion may
        take it away until :meth:`collected` (or until this process's lease lapses)."""
        with self._write() as db:
            now = db.now()
            db.execute(
                "DELETE FROM collectors WHERE task_id = ? AND owner = ?", (task_id, self.owner)
            )
            db.execute(
                "INSERT INTO collectors (task_id, owner, lease_until) VALUES (?, ?, ?)",
                (task_id, self.owner, now + self.lease_seconds),
            )
        self._heartbeat.need()

    def collected(self, task_id: str) -> None:
        """This process no longer needs ``task_id`` at the service."""
        with self._write() as db:
            db.execute(
                "DELETE FROM collectors WHERE task_id = ? AND owner = ?", (task_id, self.owner)
            )

    def collected_elsewhere(self, task_ids: Sequence[str]) -> dict[str, str]:
        """Of ``task_ids``, those another live process is still collecting, with its name
        (lapsed leases are removed on the way)."""
        wanted = list(dict.fromkeys(task_ids))
        if not wanted:
            return {}
        marks = ", ".join("?" for _ in wanted)
        busy: dict[str, str] = {}
        with self._write() as db:
            now = db.now()
            rows = db.execute(
                f"SELECT task_id, owner, lease_until FROM collectors WHERE task_id IN ({marks})",
                wanted,
            ).fetchall()
            for task_id, owner, until in rows:
                if not holder_alive(owner, until, now):
                    db.execute(
                        "DELETE FROM collectors WHERE task_id = ? AND owner = ?", (task_id, owner)
                    )
                elif owner != self.owner:
                    busy[str(task_id)] = str(owner)
        return busy
