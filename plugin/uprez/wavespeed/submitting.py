"""Submitting a segment's task exactly once, whatever happened to earlier attempts.

The submit POST has no idempotency key, so it is sent only when the journal says no task can
exist. When an earlier attempt's fate is unknown (its process died mid-submit, or its answer was
lost), the task is looked for through the service's listing first; only ``--resubmit`` sends a
submit whose earlier one may have made a task, since that may bill twice.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from uprez.errors import AmbiguousSubmit, ServiceError
from uprez.protocol import RETENTION_SECONDS
from uprez.wavespeed.answers import TaskState

if TYPE_CHECKING:
    from uprez.journal.tasks import TaskRecord
    from uprez.wavespeed.client import WaveSpeedClient

log = logging.getLogger(__name__)


def _look(
    client: WaveSpeedClient, model: str, urls: list[str | None], since: float
) -> TaskState | None:
    """The task submitted for any of ``urls`` since ``since``; None if none is listed."""
    for url in dict.fromkeys(u for u in urls if u):
        found = client.find_task(model, url, since=since)
        if found is not None:
            return found
    return None


def submit_once(
    client: WaveSpeedClient,
    model: str,
    inputs: dict[str, Any],
    record: TaskRecord | None,
    deadline: float,
) -> tuple[str, bool]:
    """The segment's task id, and whether it was created just now."""
    video_url = str(inputs["video"])
    if record is None:
        return client.submit(model, inputs, deadline=deadline).id, True
    verdict, row = record.claim()
    if verdict == "known" and row.task_id:
        return row.task_id, False
    if verdict == "busy":
        return record.wait_for_other(deadline), False
    if verdict == "lost":
        # An earlier run died while submitting: the task may exist. Look before sending.
        since = row.submit_at or time.time() - RETENTION_SECONDS
        found = _look(client, model, [video_url, row.upload_url], since)
        if found is not None:
            log.info("found the task %s an earlier run submitted", found.id)
            record.submitted(found.id)
            return found.id, False
        if not record.resubmit:
            raise AmbiguousSubmit(
                f"an earlier run was submitting segment {record.index + 1} when it stopped, "
                "and no task for it is listed; if you are sure none exists, rerun with "
                "--resubmit (a second task would be billed)"
            )
        log.info("segment %d: --resubmit: submitting again", record.index + 1)
        record.claim_anew()
    before = time.time()
    try:
        task = client.submit(model, inputs, deadline=deadline)
    except AmbiguousSubmit as exc:
        try:
            found = _look(client, model, [video_url], before)
        finally:
            record.release(maybe_created=True)
        if found is None:
            raise AmbiguousSubmit(
                f"{exc}; no task for segment {record.index + 1} is listed yet: rerun to look "
                "again, or rerun with --resubmit if you are sure none exists (a second "
                "task would be billed)",
                status=exc.status,
            ) from exc
        log.info("the submit's answer was lost, but its task %s is listed", found.id)
        record.submitted(found.id)
        return found.id, False
    except ServiceError as exc:
        # The service answered (4xx, 429) or was never reached: it made no task.
        record.release(maybe_created=False)
        exc.add_note("nothing was submitted: rerun the same command")
        raise
    record.submitted(task.id)
    return task.id, True
