"""The segments table and who may submit (uprez.journal.segments_table), in a real journal."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from uprez.journal.leases import pid_alive
from uprez.journal.store import Journal

# -- processes ------------------------------------------------------------------------------------


def test_pid_alive_for_this_process_and_for_init() -> None:
    assert pid_alive(os.getpid())
    assert pid_alive(1)  # running for sure; as another user, kill() says "no permission"


@pytest.mark.parametrize("pid", [None, 0, -1])
def test_pid_alive_is_false_for_no_pid(pid: int | None) -> None:
    assert not pid_alive(pid)


def test_pid_alive_is_false_once_a_process_has_ended() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(30)

    assert not pid_alive(child.pid)


# -- segments -------------------------------------------------------------------------------------


def test_update_segment_writes_fields_that_round_trip(journal: Journal, add_job: Any) -> None:
    add_job(journal, "job-1")

    journal.update_segment(
        "job-1", 1, state="submitted", task_id="t-1", submit_pid=4321, submit_at=12.5
    )

    row = journal.segment("job-1", 1)
    assert (row.state, row.task_id, row.submit_pid, row.submit_at) == (
        "submitted",
        "t-1",
        4321,
        12.5,
    )
    assert journal.segment("job-1", 0).state == "new"  # the other segment is untouched


@pytest.mark.parametrize("retired", ["outputs", "file", "size", "error", "updated"])
def test_update_segment_refuses_the_fields_nothing_reads(
    journal: Journal, add_job: Any, retired: str
) -> None:
    add_job(journal, "job-1")

    with pytest.raises(ValueError, match=retired):
        journal.update_segment("job-1", 0, **{retired: 1})


def test_update_segment_refuses_an_unknown_field_and_writes_nothing(
    journal: Journal, add_job: Any
) -> None:
    add_job(journal, "job-1")

    with pytest.raises(ValueError, match="colour"):
        journal.update_segment("job-1", 0, state="completed", colour="red")

    assert journal.segment("job-1", 0).state == "new"


def test_record_upload_moves_a_new_segment_to_uploaded_but_never_back(
    journal: Journal, add_job: Any
) -> None:
    add_job(journal, "job-1")
    journal.update_segment("job-1", 1, state="submitted", task_id="t-1")

    journal.record_upload("job-1", 0, "https://up/0.mp4")
    journal.record_upload("job-1", 1, "https://up/1.mp4")

    first, second = journal.segment("job-1", 0), journal.segment("job-1", 1)
    assert (first.state, first.upload_url) == ("uploaded", "https://up/0.mp4")
    assert first.uploaded_at is not None
    assert (second.state, second.upload_url) == ("submitted", "https://up/1.mp4")


# -- who submits ----------------------------------------------------------------------------------


def test_the_first_claim_may_submit_and_records_this_process(
    journal: Journal, add_job: Any
) -> None:
    add_job(journal, "job-1")

    verdict, row = journal.claim_submit("job-1", 0)

    assert verdict == "submit"
    assert (row.state, row.submit_pid) == ("submitting", os.getpid())
    assert row.submit_at is not None
    journal.release_claim("job-1", 0, reset=True)


def test_a_second_claim_while_this_process_submits_is_busy(journal: Journal, add_job: Any) -> None:
    add_job(journal, "job-1")
    journal.claim_submit("job-1", 0)

    verdict, _ = journal.claim_submit("job-1", 0)

    assert verdict == "busy"
    journal.release_claim("job-1", 0, reset=True)


def test_a_claim_after_the_task_id_is_known_says_known(journal: Journal, add_job: Any) -> None:
    add_job(journal, "job-1")
    journal.claim_submit("job-1", 0)
    journal.update_segment("job-1", 0, state="submitted", task_id="t-0")

    verdict, row = journal.claim_submit("job-1", 0)

    assert (verdict, row.task_id) == ("known", "t-0")


def test_a_claim_left_by_a_dead_process_is_lost(journal: Journal, add_job: Any) -> None:
    add_job(journal, "job-1")
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait(30)
    journal.update_segment("job-1", 0, state="submitting", submit_pid=ended.pid)

    verdict, row = journal.claim_submit("job-1", 0)

    assert (verdict, row.submit_pid) == ("lost", ended.pid)
    assert journal.segment("job-1", 0).submit_pid == ended.pid  # a lost claim is not taken over


def test_a_claim_this_process_let_go_of_without_knowing_the_outcome_is_lost(
    journal: Journal, add_job: Any
) -> None:
    add_job(journal, "job-1")
    journal.claim_submit("job-1", 0)
    journal.release_claim("job-1", 0, reset=False)  # the submit may have made a task

    verdict, row = journal.claim_submit("job-1", 0)

    assert verdict == "lost"
    assert row.state == "submitting"


def test_releasing_with_reset_lets_the_next_claim_submit(journal: Journal, add_job: Any) -> None:
    add_job(journal, "job-1")
    journal.record_upload("job-1", 0, "https://up/0.mp4")
    journal.claim_submit("job-1", 0)

    journal.release_claim("job-1", 0, reset=True)

    row = journal.segment("job-1", 0)
    assert (row.state, row.submit_pid, row.upload_url) == ("uploaded", None, "https://up/0.mp4")
    assert journal.claim_submit("job-1", 0)[0] == "submit"
    journal.release_claim("job-1", 0, reset=True)


def test_a_reset_release_never_forgets_a_recorded_task(journal: Journal, add_job: Any) -> None:
    add_job(journal, "job-1")
    journal.claim_submit("job-1", 0)
    journal.update_segment("job-1", 0, state="submitted", task_id="t-0")

    journal.release_claim("job-1", 0, reset=True)

    row = journal.segment("job-1", 0)
    assert (row.state, row.task_id) == ("submitted", "t-0")


def test_a_claim_held_by_another_live_process_is_busy_then_lost_once_it_dies(
    journal: Journal, add_job: Any, claimer: Callable[[str, int], Any]
) -> None:
    add_job(journal, "job-1")
    other = claimer("job-1", 0)
    assert other.verdict == "submit"

    verdict, row = journal.claim_submit("job-1", 0)
    assert (verdict, row.submit_pid) == ("busy", other.pid)

    other.kill()

    verdict, row = journal.claim_submit("job-1", 0)
    assert (verdict, row.submit_pid) == ("lost", other.pid)


def test_another_process_sees_this_process_claim_as_busy(
    journal: Journal, add_job: Any, claimer: Callable[[str, int], Any]
) -> None:
    add_job(journal, "job-1")
    journal.claim_submit("job-1", 0)

    assert claimer("job-1", 0).verdict == "busy"
    journal.release_claim("job-1", 0, reset=True)
