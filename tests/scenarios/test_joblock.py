"""The per-output job lock: one holder at a time across processes, files in the user's folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from filelock import FileLock

from uprez.step.lock import _lock_file, job_lock, lock_folder

import support
from support import fast_config


def test_the_lock_lives_beside_the_journal_not_in_a_shared_temporary_folder(
    tmp_path: Path,
) -> None:
    config = fast_config({"journal.path": str(tmp_path / "j" / "journal.sqlite3")})

    with job_lock(tmp_path / "out.mp4", config):
        held = list(lock_folder(config).iterdir())

    assert lock_folder(config) == tmp_path / "j" / "locks"
    assert len(held) == 1
    assert not str(held[0]).startswith(tempfile.gettempdir() + "/uprez-locks")


# Another process: takes the lock of sys.argv[2] (journal sys.argv[1]), says "held", holds it
# for sys.argv[3] seconds, then marks that it is letting go and lets go.
HOLDER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from support import fast_config\n"
    "from uprez.step.lock import job_lock\n"
    "with job_lock(Path(sys.argv[2]), fast_config({'journal.path': sys.argv[1]})):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(float(sys.argv[3]))\n"
    "    Path(sys.argv[2] + '.letting-go').touch()\n"
)


def hold(journal: Path, target: Path, seconds: float) -> subprocess.Popen[str]:
    """Start a process holding ``target``'s lock; return once it holds it."""
    tests = str(support.TESTS)
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(journal), str(target), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert other.stdout is not None and other.stdout.readline().strip() == "held"
    return other


def test_a_second_process_waits_until_the_first_lets_go(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    config = fast_config({"journal.path": str(journal)})
    target = tmp_path / "out.mp4"
    other = hold(journal, target, 0.5)
    try:
        with job_lock(target, config):
            # Only once the other process has let go does this one hold the lock.
            let_go = Path(f"{target}.letting-go").exists()
    finally:
        other.wait(30)

    assert let_go
    assert other.returncode == 0


def test_a_killed_holder_lets_go(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    config = fast_config({"journal.path": str(journal)})
    target = tmp_path / "out.mp4"
    other = hold(journal, target, 60)
    other.kill()
    other.wait(30)

    # The lock is free at once (a held one would time out here rather than hang the test).
    lock = FileLock(_lock_file(target, config), thread_local=False)
    lock.acquire(timeout=10)
    lock.release()
