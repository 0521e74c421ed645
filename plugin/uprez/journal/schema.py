"""The journal's tables, and what a journal file made by an older version still needs.

The schema text is the one list of the columns: every one is read by something (a rerun,
``uprez jobs``, the estimate). Opening never migrates a file. Journals made by older
versions keep columns this one no longer writes (jobs.inputs; segments.outputs, file, size,
error and updated; upload_limits.at); the NOT NULL ones among them get a placeholder in each
new row (:func:`retired_columns`), so an old file stays usable as it is.
"""

from __future__ import annotations

import functools
import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY, source TEXT NOT NULL, source_hash TEXT NOT NULL, output TEXT,
    model TEXT NOT NULL, plan TEXT NOT NULL, status TEXT NOT NULL,
    cost TEXT, error TEXT, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    job_key TEXT NOT NULL, idx INTEGER NOT NULL, state TEXT NOT NULL,
    upload_url TEXT, uploaded_at REAL, submit_pid INTEGER, submit_at REAL, task_id TEXT,
    PRIMARY KEY (job_key, idx)
);
CREATE TABLE IF NOT EXISTS task_rates (
    service TEXT NOT NULL, kind TEXT NOT NULL, rate REAL NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS task_rates_by_service ON task_rates (service, kind, at);
CREATE TABLE IF NOT EXISTS upload_limits (
    service TEXT PRIMARY KEY, max_bytes INTEGER NOT NULL
);
"""
TABLES = ("jobs", "segments", "task_rates", "upload_limits")


@functools.cache
def _schema_columns() -> dict[str, frozenset[str]]:
    """Each table's columns as :data:`SCHEMA` makes them (read from a scratch database, so
    the schema text stays the only list of them)."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(SCHEMA)
        return {table: frozenset(_columns(db, table)) for table in TABLES}
    finally:
        db.close()


def _columns(db: sqlite3.Connection, table: str) -> dict[str, bool]:
    """A table's columns, each with whether a row needs a value for it (NOT NULL, no default)."""
    # PRAGMA table_info rows: (cid, name, type, notnull, dflt_value, pk)
    rows = db.execute(f"PRAGMA table_info({table})").fetchall()
    return {row[1]: bool(row[3]) and row[4] is None for row in rows}


def retired_columns(db: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """Per table, the columns an older version made NOT NULL that this one no longer has: a
    journal file from then still needs a value in them for every new row (a placeholder)."""
    current = _schema_columns()
    return {
        table: tuple(
            name
            for name, required in _columns(db, table).items()
            if required and name not in current[table]
        )
        for table in TABLES
    }
