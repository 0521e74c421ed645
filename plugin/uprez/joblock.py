"""One job per output at a time, across processes: the second waits, then finds the result.

The lock is an OS file lock, so it is released when its process dies, even by SIGKILL.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


def _lock_file(target: Path) -> Path:
    folder = Path(tempfile.gettempdir()) / "uprez-locks"
    folder.mkdir(exist_ok=True)
    digest = hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:24]
    return folder / f"{digest}.lock"


def _acquire(handle: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover - Windows
        import msvcrt

        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
                return
            except OSError:
                time.sleep(0.2)
    import fcntl

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log.info("another uprez process is making the same output; waiting for it")
        fcntl.flock(handle, fcntl.LOCK_EX)


def _release(handle: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def job_lock(target: Path) -> Iterator[None]:
    """Hold the lock of the job that writes ``target`` (waiting for another holder to finish)."""
    with _lock_file(target).open("a+b") as handle:
        _acquire(handle)
        try:
            yield
        finally:
            _release(handle)
