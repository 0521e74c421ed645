"""The SQLite engine: the embedded default, one file in the user's data folder (WAL, so
readers never block the writer), shared by every process of one machine."""

from __future__ import annotations

import errno
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from uprez.errors import ConfigError, StorageError, UprezError

# Errors that mean the file's content is not a journal any more (SQLite's primary codes).
_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
# OSError numbers that mean there is no room to write.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def retry_busy(action: Callable[[], object], seconds: float = 30.0) -> None:
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
        f"cannot use the journal {path}: {exc}; nothing paid for is lost: rerun once it works again"
    )


class SqliteEngine:
    """One journal file."""

    shared = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=30, check_same_thread=False, isolation_level=None
        )
        connection.execute("PRAGMA synchronous=NORMAL")
        retry_busy(lambda: _enable_wal(connection))
        return connection

    def dialect(self, sql: str) -> str:
        return sql

    def begin_write(self, connection: sqlite3.Connection) -> None:
        # Other processes wait (up to the 30 s timeout) rather than interleave.
        connection.execute("BEGIN IMMEDIATE")

    def now(self, connection: sqlite3.Connection) -> float:
        # This machine's clock: the shared one when the ledger is a file on this machine.
        return time.time()

    def required_columns(self, connection: sqlite3.Connection, table: str) -> dict[str, bool]:
        # PRAGMA table_info rows: (cid, name, type, notnull, dflt_value, pk)
        rows = connection.execute(f"PRAGMA table_info({table})").fetchall()
        return {row[1]: bool(row[3]) and row[4] is None for row in rows}

    def failure(self, exc: BaseException, *, opening: bool) -> UprezError | None:
        if isinstance(exc, sqlite3.Error) or (opening and isinstance(exc, OSError)):
            return journal_error(self.path, exc, opening=opening)
        return None


def _enable_wal(connection: sqlite3.Connection) -> Any:
    # WAL stays set in the file; switching needs a moment alone with it, which SQLite does
    # not wait for, so only the first opener switches, and retries if it must.
    (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() != "wal":
        connection.execute("PRAGMA journal_mode=WAL")
