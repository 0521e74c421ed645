"""Submitting a segment's task exactly once, whatever happened to earlier attempts, on this
machine or another one sharing the ledger.

The submit POST has no idempotency key, so it is sent only by the holder of the segment's claim
(:meth:`uprez.journal.store.Journal.claim_submit`), and only when no task can exist. Another
process that reaches the same segment waits for the holder's task and collects it. A claim whose
holder died (its lease lapsed) may have made a task: it is looked for through the service's
listing first. The listing must answer: if it fails, nothing is sent (an ambiguous submit, exit
5). If it answers without the task once the claim is a lease old (time enough for a task to be
listed), none was made, and the segment is submitted by whoever takes the claim over.
``--resubmit`` takes it over at once. Before sending, the holder waits for the account's turn
(tasks at once and submits a minute, shared through the ledger).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from uprez import interrupt
from uprez.errors import AmbiguousSubmit, JobTimeout, ServiceError
from uprez.protocol import RETENTION_SECONDS
from uprez.wavespeed.answers import TaskState

if TYPE_CHECKING:
    from uprez.journal.segments_table import SegmentRow
    from uprez.journal.tasks import TaskRecord
    from uprez.wavespeed.client import WaveSpeedClient

log = logging.getLogger(__name__)


def _look(
    client: WaveSpeedClient, model: str, urls: list[str | None], since: float, strict: bool
) -> TaskState | None:
    """The task submitted for any of ``urls`` since ``since``; None if none is listed."""
    for url in dict.fromkeys(u for u in urls if u):
        found = client.find_task(model, url, since=since, strict=strict)
        if found is not None:
            return found
    return None


def _recover(
    client: WaveSpeedClient,
    model: str,
    video_url: str,
    record: TaskRecord,
    row: SegmentRow,
    deadline: float,
) -> str | None:
    """The task of a lost claim, if the listing shows one; None once it is sure none exists."""
    since = row.submit_at or time.time() - RETENTION_SECONDS
    settle = record.journal.lease_seconds
    while True:
        try:
            found = _look(client, model, [video_url, row.upload_url], since, strict=True)
        except ServiceError as exc:
            if record.resubmit:
                log.info(
                    "segment %d: the listing failed (%s); --resubmit: submitting again",
                    record.index + 1,
                    exc,
                )
                return None
            raise AmbiguousSubmit(
                f"an earlier run was submitting segment {record.index + 1} when it stopped, "
                f"and the service's listing, which would show its task, failed ({exc}); rerun "
                "to look again, or rerun with --resubmit if you are sure none exists (a second "
                "task would be billed)"
            ) from exc
        if found is not None:
            log.info("found the task %s an earlier run submitted", found.id)
            record.submitted(found.id)
            return found.id
        if record.resubmit:
            log.info("segment %d: --resubmit: submitting again", record.index + 1)
            return None
        young = settle - record.claim_age(row)
        if young <= 0:
            log.info(
                "segment %d: the listing shows no task of the lost submit a lease's time "
                "after it: none was made; submitting",
                record.index + 1,
            )
            return None
        if time.monotonic() + young > deadline:
            raise JobTimeout(
                f"segment {record.index + 1}: a lost submit is looked for again once it is "
                f"{settle:.0f} s old, after the deadline; rerun the same command"
            )
        interrupt.sleep(young)


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
    while True:
        verdict, row = record.claim()
        if verdict == "known" and row.task_id:
            return row.task_id, False
        if verdict == "busy":
            collected = record.wait_for_other(deadline)
            if collected is not None:
                log.info("segment %d: collecting task %s", record.index + 1, collected)
                return collected, False
            continue  # its holder died: claim again, which finds the claim lost
        if verdict == "lost":
            found = _recover(client, model, video_url, record, row, deadline)
            if found is not None:
                return found, False
            if not record.take_over(row):
                continue  # another node took it over first: collect its task
        return _send(client, model, inputs, record, deadline), True


def _send(
    client: WaveSpeedClient,
    model: str,
    inputs: dict[str, Any],
    record: TaskRecord,
    deadline: float,
) -> str:
    """Submit, holding the segment's claim; the claim is given up on any way out."""
    video_url = str(inputs["video"])
    account = client.account
    try:
        if account.limited:
            record.take_turn(account, deadline)
        record.about_to_submit()
    except BaseException:
        with contextlib.suppress(Exception):  # the ledger may be what failed
            record.release(maybe_created=False)
            record.end_turn()
        raise
    before = time.time()
    try:
        task = client.submit(model, inputs, deadline=deadline)
    except AmbiguousSubmit as exc:
        try:
            found = _look(client, model, [video_url], before, strict=False)
        finally:
            record.release(maybe_created=True)
        if found is None:
            record.end_turn()
            raise AmbiguousSubmit(
                f"{exc}; no task for segment {record.index + 1} is listed yet: rerun to look "
                "again, or rerun with --resubmit if you are sure none exists (a second "
                "task would be billed)",
                status=exc.status,
            ) from exc
        log.info("the submit's answer was lost, but its task %s is listed", found.id)
        record.submitted(found.id)
        return found.id
    except ServiceError as exc:
        # The service answered (4xx, 429) or was never reached: it made no task.
        record.release(maybe_created=False)
        record.none_made()
        record.end_turn()
        exc.add_note("nothing was submitted: rerun the same command")
        raise
    except BaseException:
        record.release(maybe_created=True)  # interrupted mid-request: a task may exist
        raise
    record.submitted(task.id)
    return task.id
