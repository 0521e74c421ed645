"""The pool that runs a job's segments several at once, and stops at once on Ctrl-C."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from uprez.interrupt import run_under

# Seconds an interrupted run gives its workers to notice: one in the middle of a request ends
# it and records what it got (a task id) in the journal, for the rerun.
_GRACE = 1.0


@contextlib.contextmanager
def workers(count: int) -> Iterator[Callable[..., Future[Any]]]:
    """A pool of ``count`` segment workers, as a ``submit(action, *args)`` function.

    Left normally or by an error, it waits for what it started (a task may be paid for and its
    result on the way). Left by Ctrl-C (``KeyboardInterrupt`` reaches the main thread only),
    it stops at once: the workers' waits and transfers end on the run's stop event
    (:mod:`uprez.interrupt`), what has not started is dropped, and the workers get
    ``_GRACE`` seconds to notice. Submitted tasks stay in the journal for a rerun.
    """
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, count), thread_name_prefix="uprez-segment")
    started: list[Future[Any]] = []

    def submit(action: Callable[..., Any], *args: object) -> Future[Any]:
        future = pool.submit(run_under, stop, action, *args)
        started.append(future)
        return future

    interrupted = False
    try:
        yield submit
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        wait(started, timeout=_GRACE)
        raise
    finally:
        if not interrupted:
            pool.shutdown(wait=True)
