"""The ledger's database: opening it (migrations applied), one write transaction at a time
across every process and machine that shares it, and what its failures mean to the user.

The ledger's tables (:mod:`.jobs_table`, :mod:`.segments_table`, :mod:`.learned`,
:mod:`.charges`, :mod:`.turns`, :mod:`.reservations`, :mod:`.audit`, :mod:`.collectors`) build
on :class:`Database`; :class:`uprez.journal.store.Journal` is all of them over one database, on
either engine (:mod:`.engine`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from uprez.errors import UprezError
from uprez.journal.engine import Session, engine_for
from uprez.journal.leases import Heartbeat, owner_id, renew_leases
from uprez.journal.schema import LATEST, applied, migrate, retired_columns

#: Seconds a claim, a turn or a reservation lives without its holder's heartbeat.
LEASE_SECONDS = 30.0


class Database:
    """One ledger, open; safe to share between threads, processes and (PostgreSQL) machines.

    ``where`` is a SQLite file's path or a ``postgresql://`` URL. ``lease_seconds`` is how long
    a claim of a dead process keeps others waiting.
    """

    def __init__(self, where: Path | str, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self.engine = engine_for(where)
        self.path = Path(where) if isinstance(where, Path) else None
        self.lease_seconds = float(lease_seconds)
        self.owner = owner_id()
        self._lock = threading.RLock()
        try:
            self._db = self.engine.connect()
            session = Session(self.engine, self._db)
            if not applied(session) >= {v for v in range(1, LATEST + 1)}:
                self.engine.begin_write(self._db)
                try:
                    migrate(session)
                    self._db.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(Exception):
                        self._db.execute("ROLLBACK")
                    raise
            self._retired = retired_columns(self.engine, self._db)
        except Exception as exc:
            raise self._failure(exc, opening=True) from exc
        # Renewed a few times per lease, so one late beat does not lose a claim.
        self._heartbeat = Heartbeat(self._renew, self.lease_seconds / 3)

    def _failure(self, exc: BaseException, *, opening: bool) -> BaseException:
        problem = self.engine.failure(exc, opening=opening)
        return problem if problem is not None else exc

    def close(self) -> None:
        """Stop renewing this process's leases and close the database."""
        self._heartbeat.stop()
        with self._lock, contextlib.suppress(Exception):
            self._db.close()

    def _renew(self) -> None:
        """Extend every lease this process holds by a full lease period."""
        with self._write() as db:
            renew_leases(db, self.owner, db.now() + self.lease_seconds)

    def now(self) -> float:
        """Unix seconds by the clock every user of this ledger shares."""
        with self._read() as db:
            return db.now()

    def _session(self) -> Session:
        if getattr(self._db, "closed", False):  # a lost server: try a new connection once
            self._db = self.engine.connect()
        return Session(self.engine, self._db)

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """The connection, to read from: a damaged page or a lost server is often met only
        here, and is reported like any other failure of the ledger."""
        with self._lock:
            try:
                yield self._session()
            except UprezError:
                raise
            except Exception as exc:
                problem = self.engine.failure(exc, opening=False)
                if problem is None:
                    raise
                raise problem from exc

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction: other writers, anywhere, wait rather than interleave."""
        with self._lock:
            try:
                session = self._session()
                self.engine.begin_write(session.raw)
            except Exception as exc:
                raise self._failure(exc, opening=False) from exc
            try:
                yield session
                session.raw.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    session.raw.execute("ROLLBACK")
                if isinstance(exc, Exception) and not isinstance(exc, UprezError):
                    problem = self.engine.failure(exc, opening=False)
                    if problem is not None:
                        raise problem from exc
                raise

    def _insert(self, db: Session, table: str, row: dict[str, Any], then: str = "") -> None:
        """Insert ``row`` into ``table`` (``then``: an ON CONFLICT clause), with a placeholder
        in each retired column an older journal file still requires."""
        retired = self._retired.get(table, ())
        names = [*row, *retired]
        values = [*row.values(), *(0 for _ in retired)]
        marks = ", ".join("?" for _ in names)
        db.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks}) {then}", values)
