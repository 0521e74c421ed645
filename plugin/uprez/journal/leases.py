"""Leases: what a process holds in the ledger (a segment's claim to submit, a turn of the
account, a budget's reservation, a task it is collecting) lives only while the process renews it.

A holder is named ``host:pid:nonce``; ``host`` is ``$UPREZ_NODE`` when set (machines that share
a ledger need names of their own: containers cloned with one host name set it), else the host
name. Its heartbeat renews every lease it holds a few times
per lease period; a process that dies, even by SIGKILL, stops renewing, and its leases expire
after ``lease_seconds`` for every machine, by the database's own clock. On the holder's own
machine a dead pid ends its leases at once.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uprez.journal.engine import Session

log = logging.getLogger(__name__)
_NONCE = secrets.token_hex(4)
HOST = os.environ.get("UPREZ_NODE") or socket.gethostname()


def owner_id() -> str:
    """This process's name as a lease holder."""
    return f"{HOST}:{os.getpid()}:{_NONCE}"


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


def holder_alive(owner: str | None, lease_until: float | None, now: float) -> bool:
    """True while the lease of ``owner`` holds: renewed in time, and on this machine its
    process still running."""
    if not owner or lease_until is None or lease_until < now:
        return False
    if owner == owner_id():
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == HOST and pid_text.isdigit():
        return pid_alive(int(pid_text))
    return True


def renew_leases(db: Session, owner: str, until: float) -> None:
    """Extend every lease ``owner`` holds to ``until`` (inside a write transaction)."""
    db.execute(
        "UPDATE segments SET lease_until = ? "
        "WHERE claim_owner = ? AND state = 'submitting' AND lease_until > 0",
        (until, owner),
    )
    db.execute("UPDATE turns SET lease_until = ? WHERE owner = ?", (until, owner))
    db.execute("UPDATE reservations SET lease_until = ? WHERE owner = ?", (until, owner))
    db.execute("UPDATE collectors SET lease_until = ? WHERE owner = ?", (until, owner))


class Heartbeat:
    """Calls ``renew`` every ``period`` seconds while any lease is held (a daemon thread,
    started on the first :meth:`need`)."""

    def __init__(self, renew: Callable[[], None], period: float) -> None:
        self._renew = renew
        self._period = max(0.2, period)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def need(self) -> None:
        """A lease was taken: make sure it is renewed."""
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="uprez-lease-heartbeat", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop renewing (the leases then expire on their own)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self._renew()
            except Exception as exc:  # the database is away: leases lapse, nothing is submitted
                log.warning("cannot renew this process's leases in the ledger: %s", exc)
