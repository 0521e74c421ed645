"""The journal's tables, and what a journal file made by an older version still needs.

Every column this version writes is read by something (a rerun, ``uprez jobs``, the
estimate). Some older versions wrote are no longer written (:data:`RETIRED`: jobs.inputs;
segments.outputs, file, size, error and updated; upload_limits.at). They stay in the tables,
with defaults, so that many machines sharing one journal file during an upgrade keep working:
an older uprez still writes them in a file made now. Opening never migrates a file; in a file
made by an older version they have no defaults, so each new row gets a placeholder there
(:func:`retired_columns`).
"""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY, source TEXT NOT NULL, source_hash TEXT NOT NULL, output TEXT,
    model TEXT NOT NULL, inputs TEXT NOT NULL DEFAULT '{}', plan TEXT NOT NULL,
    status TEXT NOT NULL, cost TEXT, error TEXT, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    job_key TEXT NOT NULL, idx INTEGER NOT NULL, state TEXT NOT NULL,
    upload_url TEXT, uploaded_at REAL, submit_pid INTEGER, submit_at REAL, task_id TEXT,
    outputs TEXT, file TEXT, size INTEGER, error TEXT, updated REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (job_key, idx)
);
CREATE TABLE IF NOT EXISTS task_rates (
    service TEXT NOT NULL, kind TEXT NOT NULL, rate REAL NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS task_rates_by_service ON task_rates (service, kind, at);
CREATE TABLE IF NOT EXISTS upload_limits (
    service TEXT PRIMARY KEY, max_bytes INTEGER NOT NULL, at REAL NOT NULL DEFAULT 0
);
"""
TABLES = ("jobs", "segments", "task_rates", "upload_limits")
#: Columns older versions wrote and this one does not (nothing reads them).
RETIRED: dict[str, frozenset[str]] = {
    "jobs": frozenset({"inputs"}),
    "segments": frozenset({"outputs", "file", "size", "error", "updated"}),
    "task_rates": frozenset(),
    "upload_limits": frozenset({"at"}),
}


def _columns(db: sqlite3.Connection, table: str) -> dict[str, bool]:
    """A table's columns, each with whether a row needs a value for it (NOT NULL, no default)."""
    # PRAGMA table_info rows: (cid, name, type, notnull, dflt_value, pk)
    rows = db.execute(f"PRAGMA table_info({table})").fetchall()
    return {row[1]: bool(row[3]) and row[4] is None for row in rows}


def retired_columns(db: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """Per table, the retired columns this file requires a value in (NOT NULL without a
    default: a file made by an older version): each new row gets a placeholder there."""
    return {
        table: tuple(
            name
            for name, required in _columns(db, table).items()
            if required and name in RETIRED[table]
        )
        for table in TABLES
    }
