"""One job per output at a time, across processes: the second waits, then finds the result.

The lock is ``filelock``'s OS file lock (``flock`` on Unix), so it is released when its process
dies, even by SIGKILL. Its files live beside the journal, in the user's own data folder, never in
a temporary folder shared by every user of the machine.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from uprez.journal.store import default_path

if TYPE_CHECKING:
    from uprez.config import Config

log = logging.getLogger(__name__)


def lock_folder(config: Config) -> Path:
    """``locks/`` beside the configured journal (or where the default journal lives)."""
    return (config.journal.path or default_path()).parent / "locks"


def _lock_file(target: Path, config: Config) -> Path:
    folder = lock_folder(config)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(str(target.resolve()).encode()).hexdigest()[:24]
    return folder / f"{digest}.lock"


@contextmanager
def job_lock(target: Path, config: Config) -> Iterator[None]:
    """Hold the lock of the job that writes ``target`` (waiting for another holder to finish)."""
    lock = FileLock(_lock_file(target, config), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("another uprez process is making the same output; waiting for it")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
