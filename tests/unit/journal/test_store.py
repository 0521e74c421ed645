"""The journal database itself (uprez.journal.store): a real SQLite file in tmp_path."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from uprez.errors import ConfigError, StorageError
from uprez.journal.store import (
    Journal,
    default_path,
    file_hash,
    job_key,
    journal_error,
    pid_alive,
)

# -- where it lives, what it holds ----------------------------------------------------------------


def test_opening_creates_the_folder_the_tables_and_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "journal.sqlite3"

    Journal(path).close()

    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    assert {"jobs", "segments", "task_rates", "upload_limits"} <= tables
    assert mode == "wal"


def test_reopening_keeps_what_was_written(journal_path: Path, add_job: Any) -> None:
    first = Journal(journal_path)
    add_job(first, "job-1")
    first.learn_upload_limit("svc", 1000)
    first.close()

    again = Journal(journal_path)
    try:
        assert again.job("job-1") is not None
        assert again.upload_limit("svc") == 1000
    finally:
        again.close()


def test_the_default_journal_is_in_the_user_data_folder(private_data_dir: Path) -> None:
    assert default_path() == private_data_dir / "uprez" / "journal.sqlite3"


def test_a_file_that_is_not_a_database_is_a_config_error_naming_journal_path(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite3"
    path.write_text("not a database, just text " * 40)

    with pytest.raises(ConfigError, match=r"^\$\.journal\.path: cannot open .*journal\.sqlite3"):
        Journal(path)


def test_a_folder_in_place_of_the_journal_is_a_config_error_naming_journal_path(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match=r"\$\.journal\.path"):
        Journal(tmp_path)


def test_a_journal_under_a_plain_file_is_a_config_error_naming_journal_path(
    tmp_path: Path,
) -> None:
    (tmp_path / "plain").write_text("x")

    with pytest.raises(ConfigError, match=r"\$\.journal\.path"):
        Journal(tmp_path / "plain" / "journal.sqlite3")


def test_a_damaged_sqlite_journal_is_a_config_error_not_a_full_disk(
    journal_path: Path, add_job: Any
) -> None:
    made = Journal(journal_path)
    add_job(made)
    made.close()
    data = bytearray(journal_path.read_bytes())
    data[100:] = b"\xab" * (len(data) - 100)  # SQLite's header kept, every page damaged
    journal_path.write_bytes(bytes(data))

    with pytest.raises(ConfigError, match=r"\$\.journal\.path") as caught:
        Journal(journal_path)

    assert "malformed" in str(caught.value)
    assert "move it away" in str(caught.value)
    assert "full" not in str(caught.value)


def test_a_full_disk_while_writing_is_a_storage_error_saying_so(
    journal: Journal, add_job: Any
) -> None:
    add_job(journal, "job-0")
    # SQLite's own way to run out of room: the file may not grow past the pages it has.
    (pages,) = journal._db.execute("PRAGMA page_count").fetchone()
    journal._db.execute(f"PRAGMA max_page_count = {pages}")

    with pytest.raises(StorageError, match="the disk is full: free some space") as caught:
        for number in range(1, 200):
            add_job(journal, f"job-{number}", segments=20)

    assert "database or disk is full" in str(caught.value)
    assert journal.job("job-0") is not None  # what was written before stays


@pytest.mark.parametrize(
    ("problem", "expected", "says"),
    [
        (sqlite3.DatabaseError("database disk image is malformed"), ConfigError, "move it away"),
        (sqlite3.DatabaseError("file is not a database"), ConfigError, "move it away"),
        (sqlite3.OperationalError("database or disk is full"), StorageError, "the disk is full"),
        (OSError(errno.ENOSPC, "No space left on device"), StorageError, "the disk is full"),
        (sqlite3.OperationalError("disk I/O error"), StorageError, "once it can be written"),
    ],
    ids=["malformed", "not-a-database", "sqlite-full", "no-space", "io-error"],
)
def test_journal_errors_are_told_apart_by_what_fixes_them(
    tmp_path: Path, problem: OSError | sqlite3.Error, expected: type[Exception], says: str
) -> None:
    error = journal_error(tmp_path / "j.sqlite3", problem, opening=False)

    assert type(error) is expected
    assert says in str(error)


# -- keys and hashes ------------------------------------------------------------------------------


def test_file_hash_is_the_sha256_of_the_whole_content(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    content = os.urandom((1 << 20) * 2 + 12345)  # more than one 1 MiB block, not a multiple
    path.write_bytes(content)

    assert file_hash(path) == hashlib.sha256(content).hexdigest()


def test_file_hash_follows_content_not_name(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    a.write_bytes(b"same frames")
    b.write_bytes(b"same frames")
    c.write_bytes(b"other frames")

    assert file_hash(a) == file_hash(b)
    assert file_hash(a) != file_hash(c)


def test_file_hash_sees_a_file_rewritten_with_other_content(tmp_path: Path) -> None:
    path = tmp_path / "shot.mp4"
    path.write_bytes(b"first render")
    before = file_hash(path)
    path.write_bytes(b"second render, longer")

    assert file_hash(path) == hashlib.sha256(b"second render, longer").hexdigest() != before


def test_job_key_is_stable_and_ignores_the_order_of_inputs() -> None:
    one = job_key("h", "m", {"a": 1, "b": 2}, [(0, 10), (10, 20)])
    two = job_key("h", "m", {"b": 2, "a": 1}, [(0, 10), (10, 20)])

    assert one == two
    assert len(one) == 32 and int(one, 16) >= 0


@pytest.mark.parametrize(
    "changed",
    [
        ("other-hash", "m", {"a": 1}, [(0, 10)]),
        ("h", "other-model", {"a": 1}, [(0, 10)]),
        ("h", "m", {"a": 2}, [(0, 10)]),
        ("h", "m", {"a": 1}, [(0, 5), (5, 10)]),
    ],
    ids=["source", "model", "inputs", "plan"],
)
def test_job_key_changes_with_source_model_inputs_and_plan(changed: tuple[Any, ...]) -> None:
    assert job_key(*changed) != job_key("h", "m", {"a": 1}, [(0, 10)])


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


# -- jobs -----------------------------------------------------------------------------------------


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
    assert "inputs" not in job  # part of the key; nothing reads them back
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


# -- what the service taught ----------------------------------------------------------------------


def test_task_rates_come_back_oldest_first_per_service_and_kind(journal: Journal) -> None:
    for rate in (1.0, 2.0, 3.0):
        journal.add_task_rate("svc", "upscale", rate)
    journal.add_task_rate("svc", "other", 9.0)
    journal.add_task_rate("elsewhere", "upscale", 8.0)

    assert journal.task_rates("svc", "upscale", 10) == [1.0, 2.0, 3.0]
    assert journal.task_rates("svc", "upscale", 2) == [2.0, 3.0]  # the latest two
    assert journal.task_rates("svc", "other", 10) == [9.0]
    assert journal.task_rates("nobody", "upscale", 10) == []


def test_only_the_latest_hundred_task_rates_are_kept(journal: Journal) -> None:
    for rate in range(105):
        journal.add_task_rate("svc", "upscale", float(rate))

    assert journal.task_rates("svc", "upscale", 1000) == [float(r) for r in range(5, 105)]


def test_an_upload_limit_is_unknown_until_learned_then_only_ever_lowered(
    journal: Journal,
) -> None:
    assert journal.upload_limit("svc") is None

    journal.learn_upload_limit("svc", 500)
    journal.learn_upload_limit("svc", 800)  # a larger refusal does not raise what was learned
    assert journal.upload_limit("svc") == 500

    journal.learn_upload_limit("svc", 300)
    assert journal.upload_limit("svc") == 300
    assert journal.upload_limit("another") is None


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


# -- two journals, one file -----------------------------------------------------------------------


def test_two_journals_on_one_file_see_each_others_writes(journal_path: Path, add_job: Any) -> None:
    a, b = Journal(journal_path), Journal(journal_path)
    try:
        add_job(a, "job-1")
        b.update_segment("job-1", 0, state="submitted", task_id="t-0")
        b.learn_upload_limit("svc", 123)

        assert a.task_ids("job-1") == ["t-0", None]
        assert a.upload_limit("svc") == 123
        assert a.claim_submit("job-1", 1)[0] == "submit"
        assert b.claim_submit("job-1", 1)[0] == "busy"  # one claim per process, whichever handle
        a.release_claim("job-1", 1, reset=True)
    finally:
        a.close()
        b.close()


def test_concurrent_writers_through_two_journals_all_land(journal_path: Path, add_job: Any) -> None:
    a, b = Journal(journal_path), Journal(journal_path)
    segments = 40
    add_job(a, "job-1", segments=segments)
    errors: list[BaseException] = []

    def write(journal: Journal, indices: range) -> None:
        try:
            for i in indices:
                journal.record_upload("job-1", i, f"https://up/{i}.mp4")
                journal.update_segment("job-1", i, state="submitted", task_id=f"t-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(journal, range(start, segments, 4)))
        for start, journal in enumerate([a, b, a, b])
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert b.task_ids("job-1") == [f"t-{i}" for i in range(segments)]
        assert {a.segment("job-1", i).upload_url for i in range(segments)} == {
            f"https://up/{i}.mp4" for i in range(segments)
        }
    finally:
        a.close()
        b.close()


def test_another_process_writing_at_the_same_time_loses_nothing(journal_path: Path) -> None:
    journal = Journal(journal_path)
    writer = (
        "import sys\n"
        "from pathlib import Path\n"
        "from uprez.journal.store import Journal\n"
        "j = Journal(Path(sys.argv[1]))\n"
        "print('open', flush=True)\n"
        "for i in range(40):\n"
        "    j.add_task_rate('svc', 'other', float(i))\n"
        "j.close()\n"
    )
    other = subprocess.Popen(
        [sys.executable, "-c", writer, str(journal_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "open"
        for i in range(40):
            journal.add_task_rate("svc", "mine", float(i))
        assert other.wait(60) == 0
        assert journal.task_rates("svc", "mine", 100) == [float(i) for i in range(40)]
        assert journal.task_rates("svc", "other", 100) == [float(i) for i in range(40)]
    finally:
        if other.stdout is not None:
            other.stdout.close()
        journal.close()
