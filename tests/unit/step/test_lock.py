"""The per-output job lock (uprez.step.lock) with real OS file locks and real other processes.

tests/test_joblock.py covers the lock's place beside the journal, a second process waiting for
the first, and a holder killed before anyone waits. Here: which outputs share a lock, that this
process's hold stops another process, that a held lock is waited for without a time limit, and
that a holder dying while someone waits lets the waiter in.
"""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from uprez.config import Config, load_config
from uprez.step.lock import job_lock, lock_folder

WAITING = "another uprez process is making the same output; waiting for it"

# Another process: takes the lock of output sys.argv[2] (journal sys.argv[1]), logging at INFO
# to stderr; prints "held" once it has it, holds it until a line (or EOF) on stdin, then lets go.
HOLDER = (
    "import logging, sys\n"
    "from pathlib import Path\n"
    "from uprez.config import load_config\n"
    "from uprez.step.lock import job_lock\n"
    "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
    "config = load_config(env={}, overrides={'journal.path': sys.argv[1]})\n"
    "with job_lock(Path(sys.argv[2]), config):\n"
    "    print('held', flush=True)\n"
    "    sys.stdin.readline()\n"
)


class Holder:
    """Another process running ``HOLDER``; its stdout read in the background."""

    def __init__(self, journal: Path, target: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(journal), str(target)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())

    def holds_within(self, seconds: float) -> bool:
        """True once the process says it holds the lock, False if it does not in time."""
        try:
            return self._lines.get(timeout=seconds) == "held"
        except queue.Empty:
            return False

    def let_go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.wait(30) == 0

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)

    def stderr(self) -> str:
        assert self.process.stderr is not None and self.process.poll() is not None
        return self.process.stderr.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "data" / "journal.sqlite3"


@pytest.fixture
def config(journal: Path) -> Config:
    return load_config(env={}, overrides={"journal.path": str(journal)})


@pytest.fixture
def holders(journal: Path) -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.close()


def hold(holders: list[Holder], journal: Path, target: Path) -> Holder:
    holder = Holder(journal, target)
    holders.append(holder)
    assert holder.holds_within(30)
    return holder


class Waiter:
    """``job_lock(target)`` in a thread of this process, holding until told to let go."""

    def __init__(self, target: Path, config: Config) -> None:
        self.entered = threading.Event()
        self.leave = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(target, config), daemon=True)
        self.thread.start()

    def _run(self, target: Path, config: Config) -> None:
        try:
            with job_lock(target, config):
                self.entered.set()
                self.leave.wait(30)
        except BaseException as exc:  # pragma: no cover - asserted on by the tests
            self.error = exc

    def finish(self) -> None:
        self.leave.set()
        self.thread.join(30)
        assert self.error is None


def the_lock_file(config: Config) -> Path:
    [file] = lock_folder(config).iterdir()
    return file


# -- which outputs share a lock -------------------------------------------------------------------


def test_one_output_named_three_ways_has_one_lock_file(
    tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "renders" / "sub").mkdir(parents=True)
    real = tmp_path / "renders" / "out.mp4"
    (tmp_path / "link").symlink_to(tmp_path / "renders")
    monkeypatch.chdir(tmp_path)

    for name in (real, Path("renders/sub/../out.mp4"), Path("link/out.mp4")):
        with job_lock(name, config):
            pass

    assert len(list(lock_folder(config).iterdir())) == 1


def test_another_process_holding_an_output_by_another_name_makes_this_one_wait(
    tmp_path: Path, journal: Path, config: Config, holders: list[Holder]
) -> None:
    (tmp_path / "renders").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "renders")
    other = hold(holders, journal, tmp_path / "link" / "out.mp4")

    waiter = Waiter(tmp_path / "renders" / "out.mp4", config)
    try:
        assert not waiter.entered.wait(0.5)
        other.let_go()
        assert waiter.entered.wait(10)
    finally:
        waiter.finish()


def test_different_outputs_are_locked_independently(
    tmp_path: Path, journal: Path, config: Config, holders: list[Holder]
) -> None:
    hold(holders, journal, tmp_path / "a_4k.mp4")

    waiter = Waiter(tmp_path / "b_4k.mp4", config)
    try:
        assert waiter.entered.wait(10)
        assert len(list(lock_folder(config).iterdir())) == 2
    finally:
        waiter.finish()


def test_without_a_journal_path_the_locks_live_beside_the_default_journal(
    tmp_path: Path, private_data_dir: Path
) -> None:
    config = load_config(env={})

    with job_lock(tmp_path / "out.mp4", config):
        files = list(lock_folder(config).iterdir())

    assert lock_folder(config) == private_data_dir / "uprez" / "locks"
    assert len(files) == 1 and files[0].suffix == ".lock"


def test_a_home_relative_journal_path_puts_the_locks_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(env={}, overrides={"journal.path": "~/uprez/j.sqlite3"})

    with job_lock(tmp_path / "out.mp4", config):
        pass

    assert lock_folder(config) == tmp_path / "home" / "uprez" / "locks"
    assert len(list(lock_folder(config).iterdir())) == 1


# -- holding, waiting, letting go -----------------------------------------------------------------


def test_while_this_process_holds_the_lock_another_process_waits_and_says_why(
    tmp_path: Path, journal: Path, config: Config, holders: list[Holder]
) -> None:
    target = tmp_path / "out.mp4"
    with job_lock(target, config):
        other = Holder(journal, target)
        holders.append(other)
        assert not other.holds_within(1.5)
        assert other.process.poll() is None  # waiting, not failed

    assert other.holds_within(10)
    other.let_go()
    assert WAITING in other.stderr()


def test_a_held_lock_is_waited_for_without_a_time_limit(
    tmp_path: Path,
    journal: Path,
    config: Config,
    holders: list[Holder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="uprez.step.lock")
    target = tmp_path / "out.mp4"
    other = hold(holders, journal, target)

    waiter = Waiter(target, config)
    try:
        time.sleep(1.5)
        assert not waiter.entered.is_set()
        assert waiter.thread.is_alive() and waiter.error is None  # no Timeout: still waiting
        assert WAITING in caplog.text
        other.let_go()
        assert waiter.entered.wait(10)
    finally:
        waiter.finish()


def test_a_holder_killed_while_another_waits_lets_the_waiter_in(
    tmp_path: Path, journal: Path, config: Config, holders: list[Holder]
) -> None:
    target = tmp_path / "out.mp4"
    other = hold(holders, journal, target)
    waiter = Waiter(target, config)
    try:
        assert not waiter.entered.wait(0.5)

        other.kill()

        assert waiter.entered.wait(10)
    finally:
        waiter.finish()


def test_the_lock_is_let_go_when_the_job_raises(tmp_path: Path, config: Config) -> None:
    with pytest.raises(RuntimeError, match="the job failed"), job_lock(tmp_path / "o.mp4", config):
        raise RuntimeError("the job failed")

    lock = FileLock(the_lock_file(config), thread_local=False)
    lock.acquire(timeout=0)  # free at once
    lock.release()


def test_while_held_the_lock_file_is_locked_for_everyone_else(
    tmp_path: Path, config: Config
) -> None:
    with job_lock(tmp_path / "out.mp4", config):
        other = FileLock(the_lock_file(config), thread_local=False)
        with pytest.raises(Timeout):
            other.acquire(timeout=0.2)


def test_two_threads_of_one_process_take_turns(tmp_path: Path, config: Config) -> None:
    target = tmp_path / "out.mp4"
    first = Waiter(target, config)
    assert first.entered.wait(10)
    second = Waiter(target, config)
    try:
        assert not second.entered.wait(0.5)
        first.finish()
        assert second.entered.wait(10)
    finally:
        first.finish()
        second.finish()


def test_the_lock_folder_is_made_when_missing(tmp_path: Path, config: Config) -> None:
    assert not lock_folder(config).exists()

    with job_lock(tmp_path / "out.mp4", config):
        assert lock_folder(config).is_dir()
