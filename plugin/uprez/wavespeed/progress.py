"""Byte counts of a transfer turned into a job's progress events."""

from __future__ import annotations

from collections.abc import Callable

from uprez.media.remote import Source
from uprez.records import JobEvent


class Throttle:
    """Turns byte counts into at most ~100 progress events a phase."""

    def __init__(
        self,
        emit: Callable[[JobEvent], None],
        kind: str,
        source: Source,
        task_id: str | None = None,
    ) -> None:
        self._emit, self._kind, self._source, self._task = emit, kind, source, task_id
        self._last = -1.0

    def __call__(self, done: int, total: int | None) -> None:
        if not total:
            return
        fraction = min(1.0, done / total)
        if fraction - self._last >= 0.01 or fraction >= 1.0 > self._last:
            self._last = fraction
            self._emit(
                JobEvent(
                    self._kind,
                    self._source,
                    task_id=self._task,
                    fraction=fraction,
                    detail={"bytes": done, "total": total},
                )
            )
