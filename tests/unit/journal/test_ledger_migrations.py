"""The ledger's migrations (uprez.journal.schema) on both engines: a new ledger gets every one,
once; many nodes opening a new ledger at once apply each once; an older ledger gains what the
newer migrations add, and keeps what it held."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from uprez.journal import schema
from uprez.journal.store import Journal

OpenLedger = Callable[..., Journal]

# The schema text as uprez wrote it before migrations existed, verbatim (test_old_journals.py).
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
#: What migration 2 adds.
NEW_TABLES = ("charges", "reservations", "turns", "submits")
NEW_SEGMENT_COLUMNS = {"claim_owner", "lease_until"}
#: What migration 3 adds: the audit, and who is collecting a task.
AUDIT_TABLES = ("audit", "collectors")
ALL_VERSIONS = list(range(1, schema.LATEST + 1))


def versions(journal: Journal) -> list[tuple[int, float]]:
    """The ledger's schema_versions rows (version, applied), by version."""
    with journal._read() as db:
        rows = db.execute("SELECT version, applied FROM schema_versions ORDER BY version")
        return [(int(version), float(at)) for version, at in rows.fetchall()]


def columns(journal: Journal, table: str) -> set[str]:
    with journal._read() as db:
        return set(journal.engine.required_columns(db.raw, table))


def test_a_fresh_ledger_has_every_migration_and_its_tables(open_ledger: OpenLedger) -> None:
    journal = open_ledger()

    assert [version for version, _ in versions(journal)] == [1, 2, 3]
    assert schema.LATEST == 3
    assert columns(journal, "segments") >= NEW_SEGMENT_COLUMNS
    for table in (*NEW_TABLES, *AUDIT_TABLES):
        assert columns(journal, table), f"no table {table}"
    with journal._read() as db:
        counts = [
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (*NEW_TABLES, *AUDIT_TABLES)
        ]
    assert counts == [0, 0, 0, 0, 0, 0]


def test_opening_again_applies_nothing(open_ledger: OpenLedger) -> None:
    first = open_ledger()
    before = versions(first)
    first.close()

    again = open_ledger()

    assert versions(again) == before
    assert len(before) == 3


def test_a_ledger_a_newer_version_migrated_further_still_opens(open_ledger: OpenLedger) -> None:
    first = open_ledger()
    newer = schema.LATEST + 1
    with first._write() as db:
        db.execute("INSERT INTO schema_versions (version, applied) VALUES (?, ?)", (newer, 1.0))
    first.close()

    again = open_ledger()

    assert [version for version, _ in versions(again)] == [*ALL_VERSIONS, newer]


def test_eight_nodes_opening_a_new_ledger_at_once_apply_each_migration_once(
    ledger_where: Path | str, nodes: Callable[..., list[str]], open_ledger: OpenLedger
) -> None:
    owners = [f"node-{number}:1:n" for number in range(8)]

    printed = nodes(ledger_where, "open", owners)

    assert printed == ["opened " + ",".join(map(str, ALL_VERSIONS))] * 8
    journal = open_ledger()
    with journal._read() as db:
        rows = db.execute(
            "SELECT version, count(*) FROM schema_versions GROUP BY version ORDER BY version"
        ).fetchall()
    assert [(int(v), int(n)) for v, n in rows] == [(version, 1) for version in ALL_VERSIONS]
    assert columns(journal, "segments") >= NEW_SEGMENT_COLUMNS


def test_a_ledger_at_migration_one_gains_the_later_migrations(
    ledger_where: Path | str, open_ledger: OpenLedger
) -> None:
    # A ledger an earlier build with only the first migration made, with a job in it.
    raw: Any
    if isinstance(ledger_where, Path):
        raw = sqlite3.connect(ledger_where, isolation_level=None)
        place = "?"
    else:
        import psycopg

        raw = psycopg.connect(ledger_where, autocommit=True)
        place = "%s"
    try:
        for statement in schema.MIGRATIONS[0][1].split(";\n"):
            raw.execute(statement)
        raw.execute(schema._VERSIONS)
        raw.execute("INSERT INTO schema_versions VALUES (1, 5.0)")
        raw.execute(
            "INSERT INTO jobs (key, source, source_hash, output, model, plan, status, created, "
            f"updated) VALUES ({', '.join([place] * 9)})",
            ("old", "/s.mp4", "h", "/o.mp4", "m", "[{}]", "done", 1.0, 2.0),
        )
        raw.execute(
            f"INSERT INTO segments (job_key, idx, state, task_id) VALUES ({place}, 0, "
            f"'downloaded', {place})",
            ("old", "t-old"),
        )
    finally:
        raw.close()

    journal = open_ledger()

    assert [version for version, _ in versions(journal)] == ALL_VERSIONS
    assert versions(journal)[0] == (1, 5.0)  # migration 1 was not applied again
    assert columns(journal, "segments") >= NEW_SEGMENT_COLUMNS
    assert journal.task_ids("old") == ["t-old"]
    row = journal.segment("old", 0)
    assert (row.state, row.claim_owner, row.lease_until) == ("downloaded", None, None)
    with journal._read() as db:
        assert [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in NEW_TABLES] == [
            0,
            0,
            0,
            0,
        ]


def test_a_ledger_at_migration_two_gains_the_audit_and_keeps_what_it_held(
    ledger_where: Path | str, open_ledger: OpenLedger
) -> None:
    raw: Any
    if isinstance(ledger_where, Path):
        raw = sqlite3.connect(ledger_where, isolation_level=None)
        place = "?"
    else:
        import psycopg

        raw = psycopg.connect(ledger_where, autocommit=True)
        place = "%s"
    try:
        raw.execute(schema._VERSIONS)
        for version, text in schema.MIGRATIONS[:2]:
            for statement in text.split(";\n"):
                if statement.strip():
                    raw.execute(statement)
            raw.execute(f"INSERT INTO schema_versions VALUES ({place}, 5.0)", (version,))
        raw.execute(
            "INSERT INTO charges (id, job_key, idx, task_id, state, account, model, project, "
            f"user_name, host, billed_seconds, cost, created) VALUES ({', '.join([place] * 13)})",
            ("c1", "old", 0, "t-old", "submitted", "a", "m", "show", "ann", "node", 5, "0.10", 1.0),
        )
    finally:
        raw.close()

    journal = open_ledger()

    assert [version for version, _ in versions(journal)] == ALL_VERSIONS
    assert [(c.id, c.task_id) for c in journal.charges()] == [("c1", "t-old")]
    assert journal.audit_rows() == []
    assert {"kind", "state", "host", "sha256", "task_id", "expires", "deleted_at"} <= columns(
        journal, "audit"
    )
    assert journal.queue_deletions("svc", ["t-old"], job_key="old", project="show", user="ann")


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    """A journal file as a version from before migrations left it: one job of two segments,
    the first submitted."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(OLD_SCHEMA)
        db.execute(
            "INSERT INTO jobs VALUES ('old-job', '/s.mp4', 'h', '/o.mp4', 'm', '{}', '[{}, {}]', "
            "'running', NULL, NULL, 100.0, 200.0)"
        )
        db.execute(
            "INSERT INTO segments VALUES ('old-job', 0, 'submitted', 'https://up/0.mp4', 150.0, "
            "NULL, 160.0, 't-0', NULL, NULL, NULL, NULL, 200.0)"
        )
        db.execute(
            "INSERT INTO segments VALUES ('old-job', 1, 'uploaded', 'https://up/1.mp4', 150.0, "
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, 200.0)"
        )
        db.commit()
    finally:
        db.close()
    return path


def test_a_file_from_before_migrations_gains_the_new_columns_and_tables(old_file: Path) -> None:
    journal = Journal(old_file, lease_seconds=5)
    try:
        assert [version for version, _ in versions(journal)] == ALL_VERSIONS
        assert columns(journal, "segments") >= NEW_SEGMENT_COLUMNS
        for table in NEW_TABLES:
            assert columns(journal, table), f"no table {table}"
        # What the file held is still there, and the new parts work on it.
        assert journal.task_ids("old-job") == ["t-0", None]
        assert journal.claim_submit("old-job", 0)[0] == "known"
        verdict, row = journal.claim_submit("old-job", 1)
        assert verdict == "submit"
        assert row.claim_owner == journal.owner
        assert row.lease_until is not None and row.lease_until > journal.now()
        journal.release_claim("old-job", 1, reset=True)
    finally:
        journal.close()

    again = Journal(old_file)
    try:
        assert [version for version, _ in versions(again)] == ALL_VERSIONS
    finally:
        again.close()
