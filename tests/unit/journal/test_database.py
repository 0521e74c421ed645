"""Opening the journal's SQLite file, and what its failures mean (uprez.journal.database)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from uprez.errors import ConfigError, StorageError
from uprez.journal.sqlite import journal_error
from uprez.journal.store import Journal

# -- opening ---------------------------------------------------------------------------------------


def test_opening_creates_the_folder_the_tables_and_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "journal.sqlite3"

    Journal(path).close()

    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    assert {"jobs", "segments", "task_rates", "upload_limits"} <= tables
    assert mode == "wal"


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


def test_a_journal_damaged_past_its_first_pages_is_a_config_error_when_read(
    journal_path: Path, add_job: Any
) -> None:
    made = Journal(journal_path)
    (schema_pages,) = made._db.execute("PRAGMA page_count").fetchone()  # the tables, empty
    for number in range(300):
        add_job(made, f"job-{number}", segments=4)
    made._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    (page,) = made._db.execute("PRAGMA page_size").fetchone()
    made.close()
    data = bytearray(journal_path.read_bytes())
    kept = schema_pages * page  # the schema's pages kept: it opens
    data[kept:] = b"\xab" * (len(data) - kept)
    journal_path.write_bytes(bytes(data))
    journal = Journal(journal_path)
    try:
        for read in (
            lambda: journal.job("job-299"),
            lambda: journal.recent(),
            lambda: journal.segment("job-299", 0),
        ):
            with pytest.raises(ConfigError, match=r"\$\.journal\.path: cannot use .*malformed"):
                read()
    finally:
        journal.close()


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
        (sqlite3.OperationalError("disk I/O error"), StorageError, "once it works again"),
    ],
    ids=["malformed", "not-a-database", "sqlite-full", "no-space", "io-error"],
)
def test_journal_errors_are_told_apart_by_what_fixes_them(
    tmp_path: Path, problem: OSError | sqlite3.Error, expected: type[Exception], says: str
) -> None:
    error = journal_error(tmp_path / "j.sqlite3", problem, opening=False)

    assert type(error) is expected
    assert says in str(error)
