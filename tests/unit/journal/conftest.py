"""Fixtures for the journal's unit tests: a journal file of the test's own, and another real
process that claims a segment in it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from uprez.journal import segments_table
from uprez.journal.store import Journal

# Another process: opens the journal sys.argv[1], claims segment sys.argv[3] of job sys.argv[2]
# and prints the verdict; then, for each line read, "task <id>" records that task id (and
# prints "recorded"); an empty line (stdin closed) ends it without releasing anything.
CLAIMER = (
    "import sys\n"
    "from pathlib import Path\n"
    "from uprez.journal.store import Journal\n"
    "key, idx = sys.argv[2], int(sys.argv[3])\n"
    "journal = Journal(Path(sys.argv[1]))\n"
    "verdict, row = journal.claim_submit(key, idx)\n"
    "print(verdict, flush=True)\n"
    "for line in sys.stdin:\n"
    "    if line.startswith('task '):\n"
    "        journal.update_segment(key, idx, state='submitted', task_id=line.split()[1])\n"
    "        print('recorded', flush=True)\n"
)


class Claimer:
    """A live process that claimed a segment (see ``CLAIMER``)."""

    def __init__(self, path: Path, key: str, idx: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(path), key, str(idx)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.verdict = self.process.stdout.readline().strip()

    @property
    def pid(self) -> int:
        return self.process.pid

    def record_task(self, task_id: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"task {task_id}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "recorded"

    def kill(self) -> None:
        """Die as a SIGKILL leaves things: the claim stays in the journal."""
        self.process.kill()
        self.process.wait(30)  # reaped, so its pid no longer answers


@pytest.fixture(autouse=True)
def no_claims_left_over() -> Iterator[None]:
    """The segments this process is submitting are process-wide: a test that fails while it
    holds a claim must not make the next test's claim "busy"."""
    yield
    segments_table._SUBMITTING.clear()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal" / "journal.sqlite3"


@pytest.fixture
def journal(journal_path: Path) -> Iterator[Journal]:
    opened = Journal(journal_path)
    yield opened
    opened.close()


@pytest.fixture
def claimer(journal_path: Path) -> Iterator[Callable[[str, int], Claimer]]:
    started: list[Claimer] = []

    def start(key: str, idx: int) -> Claimer:
        other = Claimer(journal_path, key, idx)
        started.append(other)
        return other

    yield start
    for other in started:
        if other.process.poll() is None:
            other.kill()
        for stream in (other.process.stdin, other.process.stdout):
            if stream is not None:
                stream.close()


def _add_job(
    journal: Journal,
    key: str = "job-1",
    *,
    segments: int = 2,
    source: Path = Path("/renders/shot.mp4"),
    output: Path = Path("/renders/shot_4k.mp4"),
    source_hash: str = "hash-of-shot",
) -> str:
    """Record a job of ``segments`` segments; return its status from ``open_job``."""
    return journal.open_job(
        key,
        source=source,
        source_hash=source_hash,
        output=output,
        model="runwayml/upscale-v1",
        plan=[{"index": i} for i in range(segments)],
    )


AddJob = Callable[..., str]


@pytest.fixture
def add_job() -> AddJob:
    """``add_job(journal, key, segments=2, source=..., output=..., source_hash=...)``."""
    return _add_job
