"""The ledger's tables, as numbered migrations, and what a file made by an older version needs.

Each migration is applied once per ledger, in order, inside the ledger's one-writer transaction,
so many nodes starting at once against a new database apply it once and the others find it
done (``schema_versions`` records which are in). Migrations only ever add: a ledger migrated by
a newer uprez still serves an older one. Migration 1 is the schema of the versions before
migrations existed, written with ``IF NOT EXISTS``, so their files take it as already applied.

Every column this version writes is read by something (a rerun, ``uprez jobs``, the
estimate). Some older versions wrote are no longer written (:data:`RETIRED`: jobs.inputs;
segments.outputs, file, size, error and updated; upload_limits.at). They stay in the tables,
with defaults, so that many machines sharing one journal during an upgrade keep working: an
older uprez still writes them. In a file made by an older version they have no defaults, so
each new row gets a placeholder there (:func:`retired_columns`).
"""

from __future__ import annotations

from typing import Any

from uprez.journal.engine import Engine, Session

# Times are DOUBLE PRECISION: PostgreSQL's REAL has 24 bits, a second's worth at today's dates.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY, source TEXT NOT NULL, source_hash TEXT NOT NULL, output TEXT,
    model TEXT NOT NULL, inputs TEXT NOT NULL DEFAULT '{}', plan TEXT NOT NULL,
    status TEXT NOT NULL, cost TEXT, error TEXT, created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    job_key TEXT NOT NULL, idx INTEGER NOT NULL, state TEXT NOT NULL,
    upload_url TEXT, uploaded_at DOUBLE PRECISION, submit_pid INTEGER,
    submit_at DOUBLE PRECISION, task_id TEXT, outputs TEXT, file TEXT, size BIGINT,
    error TEXT, updated DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (job_key, idx)
);
CREATE TABLE IF NOT EXISTS task_rates (
    service TEXT NOT NULL, kind TEXT NOT NULL, rate DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS task_rates_by_service ON task_rates (service, kind, at);
CREATE TABLE IF NOT EXISTS upload_limits (
    service TEXT PRIMARY KEY, max_bytes BIGINT NOT NULL, at DOUBLE PRECISION NOT NULL DEFAULT 0
)
""",
    ),
    (
        2,
        # The shared ledger: claims as leases, the account's turns, budgets' reservations,
        # what each task cost, and where each machine put each job's results (a path means
        # something on its own machine only).
        """
ALTER TABLE segments ADD COLUMN claim_owner TEXT;
ALTER TABLE segments ADD COLUMN lease_until DOUBLE PRECISION;
CREATE TABLE IF NOT EXISTS charges (
    id TEXT PRIMARY KEY, job_key TEXT NOT NULL, idx INTEGER NOT NULL, task_id TEXT,
    state TEXT NOT NULL, account TEXT NOT NULL, model TEXT NOT NULL, project TEXT NOT NULL,
    user_name TEXT NOT NULL, host TEXT NOT NULL, billed_seconds INTEGER NOT NULL,
    cost TEXT NOT NULL, reservation TEXT, settled_by TEXT, created DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_by_project ON charges (project, created);
CREATE INDEX IF NOT EXISTS charges_by_segment ON charges (job_key, idx);
CREATE INDEX IF NOT EXISTS charges_by_task ON charges (task_id);
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, user_name TEXT NOT NULL, amount TEXT NOT NULL,
    owner TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL, created DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_by_project ON reservations (project);
CREATE TABLE IF NOT EXISTS turns (
    id TEXT PRIMARY KEY, account TEXT NOT NULL, state TEXT NOT NULL, job_key TEXT,
    idx INTEGER, owner TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_account ON turns (account, state, created);
CREATE TABLE IF NOT EXISTS results (
    host TEXT NOT NULL, output TEXT NOT NULL, job_key TEXT NOT NULL, source TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL, PRIMARY KEY (host, output)
);
CREATE INDEX IF NOT EXISTS results_by_job ON results (job_key, host, at);
CREATE TABLE IF NOT EXISTS submits (account TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS submits_by_account ON submits (account, at)
""",
    ),
    (
        3,
        # The audit: every file sent to a service (kind 'upload') and every deletion of a task
        # there (kind 'delete', pending until the service confirms it); and who is still
        # collecting a task (a lease), so that no deletion pulls a result from under a node
        # that is downloading it. Hosts only: never a URL's query string, never the key.
        """
CREATE TABLE IF NOT EXISTS audit (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, service TEXT NOT NULL,
    job_key TEXT, idx INTEGER, task_id TEXT, path TEXT, source TEXT, sha256 TEXT,
    bytes BIGINT, host TEXT, upload_ref TEXT, project TEXT NOT NULL, user_name TEXT NOT NULL,
    machine TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION,
    deleted_at DOUBLE PRECISION, deleted_by TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
CREATE INDEX IF NOT EXISTS audit_by_segment ON audit (job_key, idx);
CREATE INDEX IF NOT EXISTS audit_by_task ON audit (task_id, kind);
CREATE TABLE IF NOT EXISTS collectors (
    task_id TEXT NOT NULL, owner TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (task_id, owner)
)
""",
    ),
)
LATEST = MIGRATIONS[-1][0]
TABLES = ("jobs", "segments", "task_rates", "upload_limits")
#: Columns older versions wrote and this one does not (nothing reads them).
RETIRED: dict[str, frozenset[str]] = {
    "jobs": frozenset({"inputs"}),
    "segments": frozenset({"outputs", "file", "size", "error", "updated"}),
    "task_rates": frozenset(),
    "upload_limits": frozenset({"at"}),
}
_VERSIONS = (
    "CREATE TABLE IF NOT EXISTS schema_versions "
    "(version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
)


def applied(session: Session) -> set[int]:
    """The migrations this ledger has (none when it has no record of them yet)."""
    try:
        rows = session.execute("SELECT version FROM schema_versions").fetchall()
    except Exception:  # no such table yet: a new ledger, or one from before migrations
        return set()
    return {int(version) for (version,) in rows}


def migrate(session: Session) -> None:
    """Apply the migrations this ledger lacks, inside an open write transaction."""
    session.execute(_VERSIONS)
    have = applied(session)
    for version, text in MIGRATIONS:
        if version in have:
            continue
        for statement in text.split(";\n"):
            if statement.strip():
                session.execute(statement)
        session.execute(
            "INSERT INTO schema_versions (version, applied) VALUES (?, ?)",
            (version, session.now()),
        )


def retired_columns(engine: Engine, connection: Any) -> dict[str, tuple[str, ...]]:
    """Per table, the retired columns this ledger requires a value in (NOT NULL without a
    default: a file made by an older version): each new row gets a placeholder there.

    Only SQLite files predate migrations; a shared ledger was always made by them, with a
    default in every retired column, so it is not asked (on PostgreSQL the question is four
    catalogue queries, most of the time it takes to open the ledger)."""
    if engine.shared:
        return {table: () for table in TABLES}
    return {
        table: tuple(
            name
            for name, required in engine.required_columns(connection, table).items()
            if required and name in RETIRED[table]
        )
        for table in TABLES
    }
