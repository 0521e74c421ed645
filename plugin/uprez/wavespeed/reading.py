"""Reading one task's current state: what waiting, finding a lost submit and renewing an expired
output URL all ask, so it sits below them rather than on the client they are parts of."""

from __future__ import annotations

from typing import TYPE_CHECKING

from uprez.errors import TaskGone
from uprez.wavespeed.answers import TaskState, parse_prediction, read_envelope

if TYPE_CHECKING:
    from uprez.wavespeed.connection import Connection


def read_task(connection: Connection, task_id: str) -> TaskState:
    """The task's current state (``/result``, or the bare path where that is missing).

    Raises :class:`TaskGone` when the service does not know the task (any more)."""
    what = f"task {task_id}"
    answer = connection.get_url(connection.api_url(f"/predictions/{task_id}/result"), what, task_id)
    if answer.status_code == 404:
        answer = connection.get_url(connection.api_url(f"/predictions/{task_id}"), what, task_id)
    if answer.status_code == 404:
        raise TaskGone(
            f"the service does not know task {task_id} (tasks are kept 7 days, and a "
            "restarted local server forgets its own); nothing was submitted again: rerun "
            "with --resubmit to pay for a new task",
            status=404,
            task_id=task_id,
        )
    return parse_prediction(read_envelope(answer, what, task_id), what, task_id)
