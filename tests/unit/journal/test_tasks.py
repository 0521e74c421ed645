"""What one segment remembers across runs (uprez.journal.tasks.TaskRecord), in a real journal."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from uprez.errors import JobTimeout
from uprez.journal.store import Journal
from uprez.journal.tasks import UPLOAD_REUSE_SECONDS, TaskRecord

KEY = "job-1"


@pytest.fixture
def record(journal: Journal, add_job: Any) -> TaskRecord:
    """Segment 0 of a two-segment job."""
    add_job(journal, KEY, segments=2)
    return TaskRecord(journal, KEY, 0)


# -- uploads --------------------------------------------------------------------------------------


def test_nothing_to_reuse_before_an_upload(record: TaskRecord) -> None:
    assert record.reusable_upload() is None


def test_a_recent_upload_is_reused_and_marks_the_segment_uploaded(record: TaskRecord) -> None:
    record.uploaded("https://up/0.mp4")

    assert record.reusable_upload() == "https://up/0.mp4"
    assert record.row().state == "uploaded"


def test_an_upload_older_than_a_day_is_not_reused(record: TaskRecord, journal: Journal) -> None:
    record.uploaded("https://up/0.mp4")
    journal.update_segment(KEY, 0, uploaded_at=time.time() - UPLOAD_REUSE_SECONDS - 60)

    assert record.reusable_upload() is None
    assert UPLOAD_REUSE_SECONDS == 24 * 3600


def test_an_upload_an_hour_short_of_a_day_is_still_reused(
    record: TaskRecord, journal: Journal
) -> None:
    record.uploaded("https://up/0.mp4")
    journal.update_segment(KEY, 0, uploaded_at=time.time() - UPLOAD_REUSE_SECONDS + 3600)

    assert record.reusable_upload() == "https://up/0.mp4"


def test_forgetting_an_upload_makes_the_next_attempt_upload_again(record: TaskRecord) -> None:
    record.uploaded("https://up/0.mp4")

    record.forget_upload()

    row = record.row()
    assert record.reusable_upload() is None
    assert (row.upload_url, row.uploaded_at) == (None, None)


def test_an_upload_noted_late_does_not_undo_a_submitted_task(record: TaskRecord) -> None:
    record.submitted("t-0")

    record.uploaded("https://up/0.mp4")

    row = record.row()
    assert (row.state, row.task_id, row.upload_url) == ("submitted", "t-0", "https://up/0.mp4")


# -- the task's life ------------------------------------------------------------------------------


def test_a_segment_goes_from_submitted_to_completed_to_downloaded(record: TaskRecord) -> None:
    record.uploaded("https://up/0.mp4")
    record.submitted("t-0")
    assert record.row().state == "submitted"

    record.completed(["https://out/0.mp4"])
    assert record.row().state == "completed"

    record.downloaded("/work/seg0.mp4", 4321)
    row = record.row()
    assert (row.state, row.task_id, row.upload_url) == ("downloaded", "t-0", "https://up/0.mp4")


def test_records_of_two_segments_are_independent(record: TaskRecord, journal: Journal) -> None:
    other = TaskRecord(journal, KEY, 1)

    record.submitted("t-0")

    assert other.row().state == "new"
    assert other.row().task_id is None
    assert journal.task_ids(KEY) == ["t-0", None]


def test_a_failed_task_keeps_the_upload_forgets_the_task_and_may_be_submitted_again(
    record: TaskRecord,
) -> None:
    record.uploaded("https://up/0.mp4")
    assert record.claim()[0] == "submit"
    record.submitted("t-0")
    record.completed(["https://out/0.mp4"])

    record.task_failed("x" * 900)

    row = record.row()
    assert (row.state, row.task_id, row.submit_pid) == ("uploaded", None, None)
    assert record.reusable_upload() == "https://up/0.mp4"
    assert record.claim()[0] == "submit"
    record.release(maybe_created=False)


def test_forgetting_a_task_starts_the_segment_over(record: TaskRecord) -> None:
    record.uploaded("https://up/0.mp4")
    record.submitted("t-0")
    record.completed(["https://out/0.mp4"])

    record.forget_task()

    row = record.row()
    assert (row.state, row.task_id, row.submit_pid) == ("new", None, None)
    assert (row.upload_url, row.uploaded_at) == (None, None)


# -- who submits ----------------------------------------------------------------------------------


def test_the_first_claim_submits_and_a_known_task_is_never_claimed_again(
    record: TaskRecord,
) -> None:
    verdict, row = record.claim()
    assert (verdict, row.state, row.submit_pid) == ("submit", "submitting", os.getpid())

    record.submitted("t-0")

    verdict, row = record.claim()
    assert (verdict, row.task_id) == ("known", "t-0")


def test_release_after_a_refused_submit_lets_the_next_claim_submit(record: TaskRecord) -> None:
    record.uploaded("https://up/0.mp4")
    record.claim()

    record.release(maybe_created=False)

    assert record.row().state == "uploaded"
    assert record.claim()[0] == "submit"
    record.release(maybe_created=False)


def test_release_after_an_unanswered_submit_leaves_a_lost_claim_to_look_for(
    record: TaskRecord,
) -> None:
    record.claim()

    record.release(maybe_created=True)

    verdict, row = record.claim()
    assert (verdict, row.state) == ("lost", "submitting")


def test_taking_over_a_lost_submission_claims_it_for_this_process_once(
    record: TaskRecord, journal: Journal
) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait(30)
    journal.update_segment(KEY, 0, state="submitting", submit_pid=ended.pid)
    before = time.time()
    resubmitting = TaskRecord(journal, KEY, 0, resubmit=True)
    verdict, lost = resubmitting.claim()
    assert verdict == "lost"

    assert resubmitting.take_over(lost)
    assert not resubmitting.take_over(lost)  # a second taker finds it taken

    row = resubmitting.row()
    assert (row.state, row.submit_pid, row.claim_owner) == (
        "submitting",
        os.getpid(),
        journal.owner,
    )
    assert row.submit_at is not None and row.submit_at >= before


def test_another_live_process_claim_is_busy_for_this_record(
    record: TaskRecord, claimer: Callable[[str, int], Any]
) -> None:
    other = claimer(KEY, 0)
    assert other.verdict == "submit"

    verdict, row = record.claim()

    assert (verdict, row.submit_pid) == ("busy", other.pid)


# -- waiting for another process's submission -----------------------------------------------------


def test_waiting_for_another_process_returns_the_task_id_it_records(
    record: TaskRecord, claimer: Callable[[str, int], Any]
) -> None:
    other = claimer(KEY, 0)
    assert record.claim()[0] == "busy"
    other.record_task("t-from-the-other")

    assert record.wait_for_other(time.monotonic() + 10) == "t-from-the-other"


def test_waiting_for_a_process_that_dies_without_a_task_id_ends_at_once_as_lost(
    record: TaskRecord, claimer: Callable[[str, int], Any]
) -> None:
    other = claimer(KEY, 0)
    other.kill()
    started = time.monotonic()

    assert record.wait_for_other(started + 30) is None

    assert time.monotonic() - started < 5  # it did not wait out the deadline
    assert record.claim()[0] == "lost"  # so the task is looked for before anything is sent


def test_waiting_past_the_deadline_is_a_timeout_that_sends_nothing(
    record: TaskRecord, claimer: Callable[[str, int], Any]
) -> None:
    other = claimer(KEY, 0)
    started = time.monotonic()

    with pytest.raises(JobTimeout, match="rerun to collect its task"):
        record.wait_for_other(started + 0.5)

    assert 0.4 < time.monotonic() - started < 5
    assert other.process.poll() is None  # still alive, still submitting
