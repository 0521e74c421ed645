"""The jobs table (uprez.journal.jobs_table), in a real journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from uprez.journal.store import Journal


def test_a_new_job_is_recorded_running_with_one_new_segment_per_planned_part(
    journal: Journal, add_job: Any
) -> None:
    status = add_job(journal, "job-1", segments=3)

    job = journal.job("job-1")
    assert status == "new"
    assert job is not None
    assert job["status"] == "running"
    assert job["source"] == "/renders/shot.mp4"
    assert job["output"] == "/renders/shot_4k.mp4"
    assert job["inputs"] == "{}"  # retired: part of the key; left at its default
    assert [journal.segment("job-1", i).state for i in range(3)] == ["new"] * 3
    with pytest.raises(KeyError):
        journal.segment("job-1", 3)


def test_opening_a_known_job_returns_its_status_and_moves_it_to_the_new_paths(
    journal: Journal, add_job: Any
) -> None:
    add_job(journal, "job-1", segments=2)
    journal.update_segment("job-1", 0, state="submitted", task_id="t-0")
    journal.finish_job("job-1", status="failed", error="boom")

    status = add_job(
        journal, "job-1", segments=2, source=Path("/b/copy.mp4"), output=Path("/b/out.mp4")
    )

    job = journal.job("job-1")
    assert status == "failed"
    assert job is not None and (job["source"], job["output"]) == ("/b/copy.mp4", "/b/out.mp4")
    assert journal.task_ids("job-1") == ["t-0", None]  # the segments were kept, not recreated


def test_an_unknown_job_is_none(journal: Journal) -> None:
    assert journal.job("nope") is None
    assert journal.task_ids("nope") == []


def test_finish_job_records_status_cost_and_error(journal: Journal, add_job: Any) -> None:
    add_job(journal, "ok")
    add_job(journal, "bad")

    journal.finish_job("ok", status="done", cost="0.10")
    journal.finish_job("bad", status="failed", error="the service refused")

    ok, bad = journal.job("ok"), journal.job("bad")
    assert ok is not None and (ok["status"], ok["cost"], ok["error"]) == ("done", "0.10", None)
    assert bad is not None
    assert (bad["status"], bad["error"]) == ("failed", "the service refused")


def test_done_job_for_finds_only_a_done_job_of_that_source_and_output(
    journal: Journal, add_job: Any
) -> None:
    source, output = Path("/r/shot.mp4"), Path("/r/shot_4k.mp4")
    add_job(journal, "running", source=source, output=output)
    assert journal.done_job_for(source, output) is None

    add_job(journal, "old", source=source, output=output)
    journal.finish_job("old", status="done", cost="0.10")
    add_job(journal, "new", source=source, output=output)
    journal.finish_job("new", status="done", cost="0.20")

    found = journal.done_job_for(source, output)
    assert found is not None and found["key"] == "new"  # the newest
    assert journal.done_job_for(source, Path("/r/elsewhere.mp4")) is None
    assert journal.done_job_for(Path("/r/other.mp4"), output) is None


def test_recent_lists_jobs_newest_first_with_their_segments(journal: Journal, add_job: Any) -> None:
    for key in ("a", "b", "c"):
        add_job(journal, key, segments=2)
    journal.update_segment("a", 1, state="submitted", task_id="t-a1")
    journal.finish_job("a", status="failed", error="x")  # a's record changed last

    listed = journal.recent()
    assert [job["key"] for job in listed] == ["a", "c", "b"]
    assert listed[0]["segments"] == [
        {"index": 0, "state": "new", "task_id": None},
        {"index": 1, "state": "submitted", "task_id": "t-a1"},
    ]
    assert listed[0]["status"] == "failed"
    assert [job["key"] for job in journal.recent(limit=1)] == ["a"]
