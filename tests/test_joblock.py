"""The per-output job lock: one holder at a time across processes, files in the user's folder."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from filelock import FileLock

from uprez.joblock import _lock_file, job_lock, lock_folder

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


def test_a_second_process_waits_until_the_first_lets_go(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    config = fast_config({"journal.path": str(journal)})
    target = tmp_path / "out.mp4"
    holder = (
        "import sys, time\n"
        "sys.path.insert(0, sys.argv[3])\n"
        "from pathlib import Path\n"
        "from support import fast_config\n"
        "from uprez.joblock import job_lock\n"
        "config = fast_config({'journal.path': sys.argv[1]})\n"
        "with job_lock(Path(sys.argv[2]), config):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(0.5)\n"
        "    Path(sys.argv[2] + '.letting-go').touch()\n"
    )
    tests = str(Path(__file__).parent)
    other = subprocess.Popen(
        [sys.executable, "-c", holder, str(journal), str(target), tests],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
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
    holder = (
        "import sys, time\n"
        "sys.path.insert(0, sys.argv[3])\n"
        "from pathlib import Path\n"
        "from support import fast_config\n"
        "from uprez.joblock import job_lock\n"
        "with job_lock(Path(sys.argv[2]), fast_config({'journal.path': sys.argv[1]})):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    other = subprocess.Popen(
        [sys.executable, "-c", holder, str(journal), str(target), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None and other.stdout.readline().strip() == "held"
    other.kill()
    other.wait(30)

    # The lock is free at once (a held one would time out here rather than hang the test).
    lock = FileLock(_lock_file(target, config), thread_local=False)
    lock.acquire(timeout=10)
    lock.release()
