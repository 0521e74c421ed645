"""Progress on a terminal, fed by the ``uprez_job_event`` hook: one line per segment and a
total line per job, drawn with rich (imported only once a terminal shows progress).

The CLI registers :class:`TerminalProgress` only when stderr is a terminal and the answer is
not ``--json``; what the lines say is worked out in :mod:`uprez.cli.progress_board`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from uprez.hookspecs import hookimpl
from uprez.records import JobEvent

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from uprez.cli.progress_board import Line, LineKey

_PHASE_STYLES = {
    "uploading": "cyan",
    "uploaded": "cyan",
    "submitted": "yellow",
    "queued": "yellow",
    "processing": "yellow",
    "downloading": "magenta",
    "done": "green",
}
_BAR_WIDTH = 24


def shows_progress(json_output: bool = False) -> bool:
    """Whether a command draws progress: only on a terminal, never with ``--json``."""
    return not json_output and sys.stderr.isatty()


class TerminalProgress:
    """A plugin drawing every running job on stderr: one line per segment (upload and download
    bytes and rate; the service's elapsed time and time left) and a total line (segments done,
    seconds billed and cost so far). When a job ends, its lines give way to one closing line.

    ``console`` is where to draw (a rich Console; stderr by default) and ``clock`` the time
    source, both for tests; ``refresh`` is how often a second the lines are redrawn between
    events (elapsed times tick on)."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh: float = 4.0,
    ) -> None:
        self._console = console
        self._clock = clock
        self._refresh = refresh
        # Loaded here, not with the CLI: most commands never draw progress.
        from uprez.cli.progress_board import Board

        self._board = Board()
        self._lock = threading.RLock()
        self._display: Progress | None = None
        self._tasks: dict[LineKey, TaskID] = {}
        # Log handlers writing to stderr, sent above the lines while they are drawn.
        self._handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    @hookimpl
    def uprez_job_event(self, event: JobEvent) -> None:
        with self._lock:
            closing = self._board.feed(event, self._clock())
            keys = self._board.keys()
            if keys and self._display is None:
                self._display = self._open()
            display = self._display
            if display is None:
                if closing is not None:
                    self._console_now().print(closing, markup=False, highlight=False)
                return
            for key in [k for k in self._tasks if k not in keys]:
                display.remove_task(self._tasks.pop(key))
            for key in keys:
                if key not in self._tasks:
                    self._tasks[key] = display.add_task("", key=key)
            if closing is not None:
                display.print(closing, markup=False, highlight=False)
            if keys:
                display.refresh()
            else:
                self.close()

    def _console_now(self) -> Console:
        if self._console is None:
            from rich.console import Console  # rich loads when a terminal shows progress

            self._console = Console(stderr=True)
        return self._console

    def _open(self) -> Progress:
        """A started rich display whose columns read the board's lines."""
        from rich.progress import Progress  # rich loads when a terminal shows progress

        from uprez.cli.progress_columns import columns

        display = Progress(
            *columns(self._line, _PHASE_STYLES, _BAR_WIDTH),
            console=self._console_now(),
            refresh_per_second=self._refresh,
            transient=True,
            get_time=self._clock,
            # Prints to stdout land above the lines only if stdout is this terminal too:
            # piped, they must stay in the pipe.
            redirect_stdout=sys.stdout.isatty(),
            redirect_stderr=True,
        )
        stderr = sys.stderr
        display.start()
        if sys.stderr is not stderr:  # rich took stderr over: log records go through it too
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is stderr:
                    self._handlers.append((handler, handler.setStream(sys.stderr)))
        return display

    def _line(self, task_fields: dict[str, Any]) -> tuple[Line | None, float]:
        now = self._clock()
        return self._board.line(task_fields["key"], now), now

    def close(self) -> None:
        """Stop drawing (the lines of jobs still running are removed from the terminal)."""
        with self._lock:
            if self._display is not None:
                for handler, stream in self._handlers:
                    handler.setStream(stream)
                self._handlers.clear()
                self._display.stop()
                self._display = None
                self._tasks.clear()
