"""Waiting for a task to end, through whatever trouble the polls meet.

A running task is paid for and goes on whatever its client sees, so while waiting, a 5xx, a 429,
a garbled answer or a lost connection all mean "not yet": the wait goes on with capped backoff
until the job's deadline, and the log says so. Only answers that cannot get better stop it: a
refused key, a task the service does not know, a terminal status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from uprez import protocol
from uprez.errors import AuthError, JobTimeout, RateLimited, ServiceError, TaskFailed, TaskGone
from uprez.wavespeed.answers import TaskState
from uprez.wavespeed.polling import Poller, PollSchedule
from uprez.wavespeed.reading import read_task

if TYPE_CHECKING:
    from uprez.wavespeed.connection import Connection

log = logging.getLogger(__name__)
# How long to wait before looking again at a task that says it completed without outputs.
_RECHECK = 1.0


def _passing(exc: ServiceError) -> bool:
    """True for trouble that says nothing of the task: worth asking again."""
    if isinstance(exc, AuthError | TaskGone):
        return False
    return exc.status is None or exc.status == 200 or exc.status == 429 or exc.status >= 500


def wait_for_task(
    connection: Connection,
    task_id: str,
    *,
    deadline: float,
    on_state: Callable[[TaskState], None] | None = None,
    poller: Poller | None = None,
) -> TaskState:
    """Poll until the task is terminal; return it if completed, raise otherwise.

    ``deadline`` is a :func:`time.monotonic` time. Unknown statuses count as "not yet".
    ``poller`` decides when to ask (by default the growing schedule, asking at once first).
    Raises :class:`TaskFailed` (with the task code), :class:`TaskGone` (unknown to the service,
    or completed twice without outputs) or :class:`JobTimeout` (with the task id).
    """
    poller = poller or Poller(PollSchedule())
    sleep = connection.sleep
    last_status = ""
    trouble = 0
    rechecked = False
    first = poller.next_wait(time.monotonic(), None)
    if first > 0:
        sleep(min(first, max(0.0, deadline - time.monotonic())))
    while True:
        try:
            state = read_task(connection, task_id)
        except ServiceError as exc:
            if not _passing(exc):
                raise
            trouble += 1
            wait = connection.retry.delay(min(trouble, 8))
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                wait = max(wait, min(exc.retry_after, connection.retry.retry_after_cap))
            if trouble == 1 or trouble % 10 == 0:
                log.warning(
                    "task %s: %s; still waiting (the task goes on at the service)", task_id, exc
                )
            if time.monotonic() + wait > deadline:
                raise JobTimeout(
                    f"the service could not be asked about the task before the deadline ({exc}); "
                    "it may still finish: rerun to pick it up",
                    task_id=task_id,
                    status=exc.status,
                ) from exc
            sleep(wait)
            continue
        if trouble:
            log.info("task %s: the service answers again", task_id)
            trouble = 0
        if state.status != last_status:
            log.debug("task %s is %s", task_id, state.status)
            last_status = state.status
        if on_state is not None:
            on_state(state)
        if state.status == protocol.COMPLETED:
            if state.outputs:
                return state
            if not rechecked and time.monotonic() + _RECHECK < deadline:
                # Outputs can lag the status: look again before calling the task empty.
                rechecked = True
                sleep(_RECHECK)
                continue
            raise TaskGone(
                "the task completed without a result; it was not submitted again (a second "
                "task would be billed): rerun with --resubmit to create a new one",
                task_id=task_id,
            )
        if state.finished:
            detail = f": {state.error}" if state.error else ""
            hint = (
                "fix the input, then rerun"
                if state.code is not None and 1000 <= state.code < 2000
                else "rerun to submit it again (failed tasks are refunded)"
            )
            raise TaskFailed(
                f"the task ended {state.status}{detail}; {hint}",
                code=state.code,
                task_id=task_id,
            )
        pause = poller.next_wait(time.monotonic(), state.status)
        if time.monotonic() + pause > deadline:
            raise JobTimeout(
                f"the task is still {state.status} at the deadline; it may still finish: "
                "rerun to pick it up",
                task_id=task_id,
            )
        sleep(pause)
