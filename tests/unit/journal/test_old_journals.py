"""A journal file written by an older uprez still opens and works: columns this version no
longer writes (jobs.inputs; segments.outputs, file, size, error, updated; upload_limits.at)
stay in that file, and rows added now fill the NOT NULL ones with a placeholder."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from uprez.journal.store import Journal

# The schema text as uprez wrote it up to this change, verbatim.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY, source TEXT NOT NULL, source_hash TEXT NOT NULL, output TEXT,
    model TEXT NOT NULL, inputs TEXT NOT NULL, plan TEXT NOT NULL, status TEXT NOT NULL,
    cost TEXT, error TEXT, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    job_key TEXT NOT NULL, idx INTEGER NOT NULL, state TEXT NOT NULL,
    upload_url TEXT, uploaded_at REAL, submit_pid INTEGER, submit_at REAL, task_id TEXT,
    outputs TEXT, file TEXT, size INTEGER, error TEXT, updated REAL NOT NULL,
    PRIMARY KEY (job_key, idx)
);
CREATE TABLE IF NOT EXISTS task_rates (
    service TEXT NOT NULL, kind TEXT NOT NULL, rate REAL NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS task_rates_by_service ON task_rates (service, kind, at);
CREATE TABLE IF NOT EXISTS upload_limits (
    service TEXT PRIMARY KEY, max_bytes INTEGER NOT NULL, at REAL NOT NULL
);
"""
SOURCE, OUTPUT = Path("/renders/shot.mp4"), Path("/renders/shot_4k.mp4")


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    """A journal as the older version left it: a finished two-segment job, one rate, one limit."""
    path = tmp_path / "journal.sqlite3"
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(OLD_SCHEMA)
        db.execute(
            "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, 'done', '0.20', NULL, 100.0, 200.0)",
            ("old-job", str(SOURCE), "hash-1", str(OUTPUT), "m", '{"level": 2}', "[{}, {}]"),
        )
        for idx in range(2):
            db.execute(
                "INSERT INTO segments VALUES (?, ?, 'downloaded', ?, 150.0, NULL, 160.0, ?, ?, "
                "?, 42, NULL, 200.0)",
                (
                    "old-job",
                    idx,
                    f"https://up/{idx}.mp4",
                    f"t-{idx}",
                    json.dumps([f"https://out/{idx}.mp4"]),
                    f"/work/seg-{idx}.up.mp4",
                ),
            )
        db.execute("INSERT INTO task_rates VALUES ('svc', 'seconds', 2.5, 150.0)")
        db.execute("INSERT INTO upload_limits VALUES ('svc', 1000, 150.0)")
        db.commit()
    finally:
        db.close()
    return path


@pytest.fixture
def journal(old_file: Path) -> Iterator[Journal]:
    opened = Journal(old_file)
    yield opened
    opened.close()


def columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def test_what_the_older_version_wrote_reads_back(journal: Journal) -> None:
    job = journal.done_job_for(SOURCE, OUTPUT)
    assert job is not None and (job["key"], job["source_hash"], job["cost"]) == (
        "old-job",
        "hash-1",
        "0.20",
    )
    assert journal.task_ids("old-job") == ["t-0", "t-1"]
    [listed] = journal.recent()
    assert listed["segments"][1] == {"index": 1, "state": "downloaded", "task_id": "t-1"}
    row = journal.segment("old-job", 1)
    assert (row.task_id, row.upload_url, row.submit_at) == ("t-1", "https://up/1.mp4", 160.0)
    assert journal.claim_submit("old-job", 0)[0] == "known"
    assert journal.task_rates("svc", "seconds", 10) == [2.5]
    assert journal.upload_limit("svc") == 1000


def test_new_jobs_and_segments_are_written_into_the_old_tables(
    journal: Journal, old_file: Path
) -> None:
    status = journal.open_job(
        "new-job",
        source=SOURCE,
        source_hash="hash-2",
        output=OUTPUT,
        model="m",
        plan=[{"index": 0}],
    )
    journal.record_upload("new-job", 0, "https://up/new.mp4")
    verdict, _ = journal.claim_submit("new-job", 0)
    journal.update_segment("new-job", 0, state="submitted", task_id="t-new")
    journal.release_claim("new-job", 0, reset=True)
    journal.finish_job("new-job", status="done", cost="0.10")

    assert (status, verdict) == ("new", "submit")
    row = journal.segment("new-job", 0)
    assert (row.state, row.task_id, row.submit_pid) == ("submitted", "t-new", os.getpid())
    assert [job["key"] for job in journal.recent()] == ["new-job", "old-job"]
    # The file keeps its older columns (nothing is migrated); new rows hold a placeholder.
    assert "inputs" in columns(old_file, "jobs")
    assert {"outputs", "file", "size", "error", "updated"} <= set(columns(old_file, "segments"))
    with sqlite3.connect(old_file) as db:
        (inputs,) = db.execute("SELECT inputs FROM jobs WHERE key = 'new-job'").fetchone()
        (updated,) = db.execute("SELECT updated FROM segments WHERE job_key = 'new-job'").fetchone()
    assert (inputs, updated) == ("0", 0)


def test_rates_and_upload_limits_are_written_into_the_old_tables(journal: Journal) -> None:
    journal.add_task_rate("svc", "seconds", 3.5)
    journal.learn_upload_limit("svc", 800)  # lowers the one the older version learned
    journal.learn_upload_limit("other", 500)  # a new row in the older table

    assert journal.task_rates("svc", "seconds", 10) == [2.5, 3.5]
    assert (journal.upload_limit("svc"), journal.upload_limit("other")) == (800, 500)


def test_a_journal_made_now_keeps_the_retired_columns_for_older_versions(tmp_path: Path) -> None:
    # Machines sharing one journal are upgraded one by one: an older uprez must still write
    # its rows (naming the columns it knew) in a file this version made.
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    db = sqlite3.connect(path)
    try:
        db.execute(
            "INSERT INTO jobs (key, source, source_hash, output, model, inputs, plan, status,"
            " cost, error, created, updated) VALUES ('k', 's', 'h', 'o', 'm', '{}', '[]',"
            " 'running', NULL, NULL, 1, 1)"
        )
        db.execute(
            "INSERT INTO segments (job_key, idx, state, outputs, file, size, error, updated)"
            " VALUES ('k', 0, 'pending', '[]', NULL, NULL, NULL, 1)"
        )
        db.execute("INSERT INTO upload_limits (service, max_bytes, at) VALUES ('svc', 9, 1)")
        db.commit()
    finally:
        db.close()

    journal = Journal(path)
    try:
        assert journal.upload_limit("svc") == 9
        journal.learn_upload_limit("other", 500)  # this version leaves the retired ones out
        assert journal.upload_limit("other") == 500
    finally:
        journal.close()
    assert {"outputs", "file", "size", "error", "updated"} <= set(columns(path, "segments"))
