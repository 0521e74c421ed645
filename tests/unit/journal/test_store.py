"""The journal as a whole (uprez.journal.store): where it lives, and one file shared by
several journals, threads and processes; a real SQLite file in tmp_path."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from uprez.journal.store import Journal, default_path

# -- where it lives -------------------------------------------------------------------------------


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
