"""Stopping a job's worker threads at once when its run is interrupted (Ctrl-C).

Python raises ``KeyboardInterrupt`` in the main thread only; the threads that run segments would
go on polling until their tasks end or the deadline passes, and the process cannot exit before
they do. So each worker runs under its run's stop event (:func:`run_under`), every wait of theirs
sleeps on that event instead of :func:`time.sleep` (:func:`sleep`), and transfers look at it
between chunks (:func:`check`): once the main thread sets it, the workers raise
:class:`Interrupted` at their next wait or chunk. Nothing is undone: submitted tasks stay in the
journal, and a rerun collects them.

Outside a run (no event), :func:`sleep` is :func:`time.sleep` and :func:`check` does nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

_T = TypeVar("_T")

_stop: ContextVar[threading.Event | None] = ContextVar("uprez_stop", default=None)


class Interrupted(KeyboardInterrupt):
    """The run this thread works for was interrupted: stop here, leaving the journal as it is."""


def run_under(stop: threading.Event, action: Callable[..., _T], *args: object) -> _T:
    """``action(*args)`` with ``stop`` as this thread's stop event (a pool's worker threads
    do not inherit the submitter's context)."""
    token = _stop.set(stop)
    try:
        return action(*args)
    finally:
        _stop.reset(token)


def check() -> None:
    """Raise :class:`Interrupted` if this thread's run was interrupted."""
    stop = _stop.get()
    if stop is not None and stop.is_set():
        raise Interrupted("the run was interrupted")


def sleep(seconds: float) -> None:
    """:func:`time.sleep`, cut short by this thread's run being interrupted."""
    stop = _stop.get()
    if stop is None:
        time.sleep(seconds)
    elif stop.wait(max(0.0, seconds)):
        raise Interrupted("the run was interrupted")
