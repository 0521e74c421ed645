"""The PostgreSQL engine: one ledger for every machine of a studio (``journal.url``).

Its driver, psycopg 3, is the extra ``uprez[postgres]``. Every write transaction first takes one
transaction-scoped advisory lock, so writers run one at a time as they do on SQLite: the same
code path, the same reasoning, and no serialization failures to retry. Ledger writes are a few
milliseconds each, so one lock serves a farm. Time comes from the server's clock, which every
machine shares, so a lease means the same on all of them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from uprez.errors import ConfigError, StorageError, UprezError

#: The advisory lock every write transaction of the ledger takes (any fixed number will do).
WRITE_LOCK = 0x75707265  # "upre"
CONNECT_TIMEOUT = 10


def shown(url: str) -> str:
    """``url`` without its password (and without any query, which may carry one)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _driver() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigError(
            "$.journal.url: a postgresql:// ledger needs the PostgreSQL driver: "
            "pip install 'uprez[postgres]'"
        ) from exc
    return psycopg


class PostgresEngine:
    """A ledger in a PostgreSQL database."""

    shared = True

    def __init__(self, url: str) -> None:
        self._url = url
        self.where = shown(url)
        self._psycopg = _driver()

    def __repr__(self) -> str:
        return f"PostgresEngine({self.where!r})"

    def connect(self) -> Any:
        return self._psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="uprez",
        )

    def dialect(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def begin_write(self, connection: Any) -> None:
        connection.execute("BEGIN")
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))

    def now(self, connection: Any) -> float:
        (moment,) = connection.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
        return float(moment)

    def required_columns(self, connection: Any, table: str) -> dict[str, bool]:
        rows = connection.execute(
            "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        ).fetchall()
        return {name: nullable == "NO" and default is None for name, nullable, default in rows}

    def failure(self, exc: BaseException, *, opening: bool) -> UprezError | None:
        if not isinstance(exc, self._psycopg.Error):
            return None
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        detail = detail.replace(self._url, self.where)
        if opening:
            return StorageError(
                f"cannot reach the shared ledger {self.where}: {detail}; nothing was spent: "
                "rerun once the database is reachable (journal.url)"
            )
        return StorageError(
            f"lost the shared ledger {self.where}: {detail}; no task is submitted without it, "
            "and what was in flight is collected by a rerun once the database is back"
        )
