"""The ledger's two engines behind one small face: SQLite (one machine, nothing to set up) and
PostgreSQL (every machine of a studio on one ledger).

The tables' code writes one SQL text for both (``?`` placeholders, standard SQL); an engine
connects, turns the text into its own dialect, starts the one kind of write transaction the
ledger uses (one writer at a time: SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's transaction-scoped
advisory lock), tells the time every machine agrees on, and says what a failure means.

A thin layer of our own, not SQLAlchemy Core: the ledger's SQL is a few dozen plain statements
that both engines already understand, so the layer is one placeholder swap and four methods,
where SQLAlchemy would add a large dependency and rewrite every statement in its own terms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from uprez.errors import UprezError


class Cursor(Protocol):
    """What a statement gives back (both drivers' cursors have these)."""

    description: Any

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Engine(Protocol):
    """One database engine: see the module's docstring."""

    #: Where the ledger is, safe to show (a password never appears).
    where: str
    #: True when other machines may share the ledger (its leases then matter across hosts).
    shared: bool

    def connect(self) -> Any:
        """A new connection, in autocommit mode (transactions are begun explicitly)."""

    def dialect(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in this engine's own form."""

    def begin_write(self, connection: Any) -> None:
        """Begin a transaction that no other writer, in any process or machine, interleaves."""

    def now(self, connection: Any) -> float:
        """Unix seconds by the clock every user of this ledger shares."""

    def required_columns(self, connection: Any, table: str) -> dict[str, bool]:
        """A table's columns, each with whether a row needs a value for it."""

    def failure(self, exc: BaseException, *, opening: bool) -> UprezError | None:
        """What ``exc`` means to the user, or None when it is no failure of this database."""


class Session:
    """A connection that speaks the ledger's one SQL text (``?`` placeholders) on any engine."""

    def __init__(self, engine: Engine, connection: Any) -> None:
        self.engine = engine
        self.raw = connection

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Cursor:
        """Run one statement; its cursor."""
        cursor: Cursor = self.raw.execute(self.engine.dialect(sql), tuple(params))
        return cursor

    def now(self) -> float:
        """The shared clock (see :meth:`Engine.now`)."""
        return self.engine.now(self.raw)


def engine_for(where: Path | str) -> Engine:
    """The engine of a ledger: a ``postgresql://`` URL, or a SQLite file's path."""
    text = str(where)
    if text.startswith(("postgresql://", "postgres://")):
        from uprez.journal.postgres import PostgresEngine  # psycopg: an extra

        return PostgresEngine(text)
    from uprez.journal.sqlite import SqliteEngine

    return SqliteEngine(Path(where))
