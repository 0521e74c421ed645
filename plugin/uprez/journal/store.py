"""The journal: what every job and segment did, so a rerun resumes instead of paying twice.

One SQLite file (WAL, so readers never block the writer), by default in the user's data folder.
Each side effect is written down before and after it happens: the upload's URL, "submitting",
the task id, "completed", "downloaded". A job is keyed by the source's content hash, the
model and its inputs, and the segment plan: the same work, asked again, finds its record.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uprez.errors import ConfigError, StorageError, UprezError
from uprez.media.remote import Source

# Every column here is read by something (a rerun, `uprez jobs`, the estimate). Journals made
# by older versions have more columns (jobs.inputs; segments.outputs, file, size, error and
# updated; upload_limits.at): they stay in those files, unwritten (see _retired_columns).
_SCHEMA = """
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
_TABLES = ("jobs", "segments", "task_rates", "upload_limits")
# Segments this process is submitting right now (another thread may ask about them).
_SUBMITTING: set[tuple[str, int]] = set()
_SEGMENT_FIELDS = frozenset(
    {"state", "upload_url", "uploaded_at", "submit_pid", "submit_at", "task_id"}
)


def _retry_busy(action: Callable[[], object], seconds: float = 30.0) -> None:
    """Run ``action``, retrying while another process holds the database."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@functools.cache
def _schema_columns() -> dict[str, frozenset[str]]:
    """Each table's columns as :data:`_SCHEMA` makes them (read from a scratch database, so
    the schema text is the only list of them)."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(_SCHEMA)
        return {table: frozenset(_columns(db, table)) for table in _TABLES}
    finally:
        db.close()


def _columns(db: sqlite3.Connection, table: str) -> dict[str, bool]:
    """A table's columns, each with whether a row needs a value for it (NOT NULL, no default)."""
    # PRAGMA table_info rows: (cid, name, type, notnull, dflt_value, pk)
    rows = db.execute(f"PRAGMA table_info({table})").fetchall()
    return {row[1]: bool(row[3]) and row[4] is None for row in rows}


def _retired_columns(db: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    """Per table, the columns an older version made NOT NULL that this one no longer has: a
    journal file from then still needs a value in them for every new row (a placeholder 0)."""
    current = _schema_columns()
    return {
        table: tuple(
            name
            for name, required in _columns(db, table).items()
            if required and name not in current[table]
        )
        for table in _TABLES
    }


# Errors that mean the file's content is not a journal any more (SQLite's primary codes).
_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
# OSError numbers that mean there is no room to write.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def journal_error(path: Path, exc: OSError | sqlite3.Error, *, opening: bool) -> UprezError:
    """The error to report when the journal at ``path`` failed with ``exc``.

    A damaged file is a :class:`ConfigError` naming ``$.journal.path`` (moving the file away
    fixes it; rerunning does not), a full disk a :class:`StorageError` (freeing space fixes
    it). They are told apart by SQLite's result code, not by words in its message: a damaged
    file's message is "database disk image is malformed", which names the disk too.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc).lower()
    if primary in _DAMAGED or "malformed" in text or "not a database" in text:
        return ConfigError(
            f"$.journal.path: cannot {'open' if opening else 'use'} {path}: it is damaged "
            f"({exc}); move it away and rerun, and uprez starts a new journal (keep the old "
            "file: it names the tasks already paid for)"
        )
    full = (
        primary == sqlite3.SQLITE_FULL
        or "database or disk is full" in text
        or (isinstance(exc, OSError) and exc.errno in _NO_ROOM)
    )
    if full:
        return StorageError(
            f"cannot write the journal {path}: {exc}; the disk is full: free some space and "
            "rerun (nothing paid for is lost)"
        )
    if opening:
        return ConfigError(f"$.journal.path: cannot open {path}: {exc}")
    return StorageError(
        f"cannot write the journal {path}: {exc}; nothing paid for is lost: rerun once it "
        "can be written"
    )


def default_path() -> Path:
    """``<user data dir>/uprez/journal.sqlite3``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("uprez")) / "journal.sqlite3"


def file_hash(path: Path) -> str:
    """SHA-256 of a file's content, read in 1 MiB blocks (once per unchanged file)."""
    stat = path.stat()
    return _hash_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _hash_of(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by size and modification time: a rerun in the same process (a watch folder, a
    # batch, the rerun check and the job record) reads a large source once, not three times.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def job_key(
    source_hash: str, model: str, inputs: dict[str, Any], cuts: list[tuple[int, int]]
) -> str:
    """The key of a job: the same content, model, inputs and plan give the same key."""
    text = json.dumps([source_hash, model, inputs, cuts], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SegmentRow:
    """A segment's record."""

    job_key: str
    idx: int
    state: str
    upload_url: str | None
    uploaded_at: float | None
    submit_pid: int | None
    submit_at: float | None
    task_id: str | None


def pid_alive(pid: int | None) -> bool:
    """True when a process with this id still runs on this machine."""
    if not pid or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Journal:
    """The journal database; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=30, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA synchronous=NORMAL")
            _retry_busy(self._enable_wal)
            _retry_busy(lambda: self._db.executescript(_SCHEMA))
            self._retired = _retired_columns(self._db)
        except (OSError, sqlite3.Error) as exc:
            raise journal_error(path, exc, opening=True) from exc
        self._lock = threading.RLock()

    def _enable_wal(self) -> None:
        # WAL stays set in the file; switching needs a moment alone with it, which SQLite does
        # not wait for, so only the first opener switches, and retries if it must.
        (mode,) = self._db.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            self._db.execute("PRAGMA journal_mode=WAL")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction: other processes wait (up to 30 s) rather than interleave."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise journal_error(self.path, exc, opening=False) from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise journal_error(self.path, exc, opening=False) from exc
                raise

    def _insert(
        self, db: sqlite3.Connection, table: str, row: dict[str, Any], then: str = ""
    ) -> None:
        """Insert ``row`` into ``table`` (``then``: an ON CONFLICT clause), with a placeholder
        in each retired column an older journal file still requires."""
        names = [*row, *self._retired[table]]
        values = [*row.values(), *(0 for _ in self._retired[table])]
        marks = ", ".join("?" for _ in names)
        db.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks}) {then}", values)

    # -- jobs ----------------------------------------------------------------------------------

    def open_job(
        self,
        key: str,
        *,
        source: Source,
        source_hash: str,
        output: Path,
        model: str,
        plan: list[dict[str, Any]],
    ) -> str:
        """Record a job (or find it); return its status (``new`` when it was not known)."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT status FROM jobs WHERE key = ?", (key,)).fetchone()
            if row is not None:
                # The same content under another name is the same work: paid once.
                db.execute(
                    "UPDATE jobs SET updated = ?, source = ?, output = ? WHERE key = ?",
                    (now, str(source), str(output), key),
                )
                return str(row[0])
            job = {
                "key": key,
                "source": str(source),
                "source_hash": source_hash,
                "output": str(output),
                "model": model,
                "plan": json.dumps(plan),
                "status": "running",
                "created": now,
                "updated": now,
            }
            self._insert(db, "jobs", job)
            for number in range(len(plan)):
                self._insert(db, "segments", {"job_key": key, "idx": number, "state": "new"})
            return "new"

    def finish_job(
        self, key: str, *, status: str, cost: str | None = None, error: str | None = None
    ) -> None:
        """Record how a job ended (``done`` or ``failed``)."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET status = ?, cost = ?, error = ?, updated = ? WHERE key = ?",
                (status, cost, error, time.time(), key),
            )

    def job(self, key: str) -> dict[str, Any] | None:
        """A job's record, or None."""
        with self._lock:
            cursor = self._db.execute("SELECT * FROM jobs WHERE key = ?", (key,))
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        return dict(zip(names, row, strict=True)) if row else None

    def task_ids(self, key: str) -> list[str | None]:
        """Each segment's task id, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT task_id FROM segments WHERE job_key = ? ORDER BY idx", (key,)
            ).fetchall()
        return [row[0] for row in rows]

    def done_job_for(self, source: Source, output: Path) -> dict[str, Any] | None:
        """The newest successful job that wrote ``output`` from ``source``, or None."""
        with self._lock:
            cursor = self._db.execute(
                "SELECT * FROM jobs WHERE source = ? AND output = ? AND status = 'done' "
                "ORDER BY updated DESC LIMIT 1",
                (str(source), str(output)),
            )
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        return dict(zip(names, row, strict=True)) if row else None

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest jobs, newest first, each with its segments' task ids and states."""
        with self._lock:
            cursor = self._db.execute(
                "SELECT key, source, output, model, status, cost, error, created, updated "
                "FROM jobs ORDER BY updated DESC LIMIT ?",
                (limit,),
            )
            names = [d[0] for d in cursor.description]
            jobs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            for job in jobs:
                rows = self._db.execute(
                    "SELECT idx, state, task_id FROM segments WHERE job_key = ? ORDER BY idx",
                    (job["key"],),
                ).fetchall()
                job["segments"] = [{"index": i, "state": s, "task_id": t} for i, s, t in rows]
        return jobs

    # -- how long the service takes (see uprez.wavespeed.eta) -------------------------------------

    def task_rates(self, service: str, kind: str, limit: int) -> list[float]:
        """The latest ``limit`` rates (service seconds per unit of work), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rate FROM task_rates WHERE service = ? AND kind = ? "
                "ORDER BY at DESC LIMIT ?",
                (service, kind, limit),
            ).fetchall()
        return [rate for (rate,) in reversed(rows)]

    def add_task_rate(self, service: str, kind: str, rate: float) -> None:
        """Remember one finished task's rate; only the latest hundred per service are kept."""
        with self._write() as db:
            db.execute(
                "INSERT INTO task_rates (service, kind, rate, at) VALUES (?, ?, ?, ?)",
                (service, kind, rate, time.time()),
            )
            db.execute(
                "DELETE FROM task_rates WHERE service = ? AND kind = ? AND at < ("
                "SELECT at FROM task_rates WHERE service = ? AND kind = ? "
                "ORDER BY at DESC LIMIT 1 OFFSET 99)",
                (service, kind, service, kind),
            )

    # -- the largest upload a service took (see uprez.step.estimate) -------------------------

    def upload_limit(self, service: str) -> int | None:
        """The upload size limit learned from ``service``'s refusals, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT max_bytes FROM upload_limits WHERE service = ?", (service,)
            ).fetchone()
        return int(row[0]) if row else None

    def learn_upload_limit(self, service: str, max_bytes: int) -> None:
        """Remember that ``service`` refuses uploads over ``max_bytes`` (only ever lowered)."""
        with self._write() as db:
            self._insert(
                db,
                "upload_limits",
                {"service": service, "max_bytes": max_bytes},
                "ON CONFLICT (service) DO UPDATE SET "
                "max_bytes = min(max_bytes, excluded.max_bytes)",
            )

    # -- segments ------------------------------------------------------------------------------

    def segment(self, key: str, idx: int) -> SegmentRow:
        """A segment's record."""
        with self._lock:
            return self._row(self._db, key, idx)

    def update_segment(self, key: str, idx: int, **fields: Any) -> None:
        """Write fields of a segment's record."""
        done_submitting = "task_id" in fields or fields.get("state") not in (None, "submitting")
        unknown = set(fields) - _SEGMENT_FIELDS
        if unknown:
            raise ValueError(f"unknown segment fields {sorted(unknown)}")
        if not fields:
            raise ValueError("no segment fields to write")
        names = ", ".join(f"{name} = ?" for name in fields)
        with self._write() as db:
            db.execute(
                f"UPDATE segments SET {names} WHERE job_key = ? AND idx = ?",
                (*fields.values(), key, idx),
            )
        if done_submitting:  # only once the record says so may another thread look
            _SUBMITTING.discard((key, idx))

    def record_upload(self, key: str, idx: int, url: str) -> None:
        """Note an upload's URL without undoing a later state (another worker may be ahead)."""
        with self._write() as db:
            db.execute(
                "UPDATE segments SET upload_url = ?, uploaded_at = ?, "
                "state = CASE WHEN state = 'new' THEN 'uploaded' ELSE state END "
                "WHERE job_key = ? AND idx = ?",
                (url, time.time(), key, idx),
            )

    def release_claim(self, key: str, idx: int, *, reset: bool) -> None:
        """This process no longer submits the segment; ``reset`` records that no task exists."""
        _SUBMITTING.discard((key, idx))
        if reset:
            with self._write() as db:
                db.execute(
                    "UPDATE segments SET state = 'uploaded', submit_pid = NULL "
                    "WHERE job_key = ? AND idx = ? AND task_id IS NULL",
                    (key, idx),
                )

    def claim_submit(self, key: str, idx: int) -> tuple[str, SegmentRow]:
        """Decide, atomically across processes, who may submit a segment's task.

        Returns ``("submit", row)`` when this process may (the record now says "submitting"
        by this pid), ``("known", row)`` when a task id exists, ``("busy", row)`` when another
        live process is submitting, or ``("lost", row)`` when a process died while submitting:
        the task may exist, and must be looked for before anything is sent again.
        """
        with self._write() as db:
            row = self._row(db, key, idx)
            if row.task_id:
                return "known", row
            if row.state == "submitting":
                mine = row.submit_pid == os.getpid()
                if (mine and (key, idx) in _SUBMITTING) or (not mine and pid_alive(row.submit_pid)):
                    return "busy", row
                return "lost", row
            _SUBMITTING.add((key, idx))
            db.execute(
                "UPDATE segments SET state = 'submitting', submit_pid = ?, submit_at = ? "
                "WHERE job_key = ? AND idx = ?",
                (os.getpid(), time.time(), key, idx),
            )
            return "submit", self._row(db, key, idx)

    def _row(self, db: sqlite3.Connection, key: str, idx: int) -> SegmentRow:
        row = db.execute(
            "SELECT job_key, idx, state, upload_url, uploaded_at, submit_pid, submit_at, "
            "task_id FROM segments WHERE job_key = ? AND idx = ?",
            (key, idx),
        ).fetchone()
        if row is None:
            raise KeyError(f"no segment {idx} of job {key}")
        return SegmentRow(*row)
