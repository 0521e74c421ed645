"""The journal's SQLite file: opening it (tables made, WAL on), one transaction at a time, and
what its failures mean to the user.

The journal's tables (:mod:`.jobs_table`, :mod:`.segments_table`, :mod:`.learned`) build on
:class:`Database`; :class:`uprez.journal.store.Journal` is all of them over one file.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from uprez.errors import ConfigError, StorageError, UprezError
from uprez.journal.schema import SCHEMA, retired_columns


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
        f"cannot use the journal {path}: {exc}; nothing paid for is lost: rerun once it works again"
    )


class Database:
    """One journal file, open; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=30, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA synchronous=NORMAL")
            _retry_busy(self._enable_wal)
            _retry_busy(lambda: self._db.executescript(SCHEMA))
            self._retired = retired_columns(self._db)
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
    def _read(self) -> Iterator[sqlite3.Connection]:
        """The connection, to read from: a damaged page is often met only here, and is
        reported like any other failure of the journal (:func:`journal_error`)."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise journal_error(self.path, exc, opening=False) from exc

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
