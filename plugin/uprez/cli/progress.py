"""Progress bars on a terminal, fed by the ``uprez_job_event`` hook."""

from __future__ import annotations

import sys
from typing import Any

from uprez.hookspecs import hookimpl
from uprez.records import JobEvent


class TerminalProgress:
    """A plugin the CLI registers when stderr is a terminal: one bar per phase of a job."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._phase = ""

    def _open(self, phase: str, source: str, unit: str, total: float | None) -> None:
        from tqdm import tqdm  # tqdm loads when a terminal shows progress

        self.close()
        self._phase = phase
        self._bar = tqdm(
            total=total,
            desc=f"{phase:<11} {source}",
            unit=unit,
            file=sys.stderr,
            unit_scale=True,
            leave=False,
            dynamic_ncols=True,
        )

    @hookimpl
    def uprez_job_event(self, event: JobEvent) -> None:
        name = event.source.name
        if event.kind in ("uploading", "downloading"):
            total = event.detail.get("total")
            if self._phase != event.kind or self._bar is None:
                self._open(event.kind, name, "B", total)
            if self._bar is not None and "bytes" in event.detail:
                self._bar.total = total
                self._bar.n = event.detail["bytes"]
                self._bar.refresh()
        elif event.kind == "processing":
            if self._phase != "processing":
                self._open("processing", name, "poll", None)
            if self._bar is not None:
                self._bar.set_postfix_str(event.message)
                self._bar.update(1)
        elif event.kind in ("completed", "failed"):
            self.close()

    def close(self) -> None:
        """Remove the current bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._phase = ""
