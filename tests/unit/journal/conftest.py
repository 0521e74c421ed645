"""Fixtures for the journal's unit tests: a journal file of the test's own, and another real
process that claims a segment in it; and for the shared ledger's tests, a fresh ledger on each
engine (SQLite, PostgreSQL), Journals on it as other processes and machines, and node processes
that act on it at once."""

from __future__ import annotations

import subprocess
import sys
import time
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


# -- the shared ledger, on both engines (tests/unit/journal/test_ledger_*.py) -------------------


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_where(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a fresh ledger is: a SQLite file's path, or an empty PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "ledger.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


OpenLedger = Callable[..., Journal]


@pytest.fixture
def open_ledger(ledger_where: Path | str) -> Iterator[OpenLedger]:
    """``open_ledger(lease_seconds=30.0, owner=None)``: a Journal on the test's ledger (each one
    a separate connection, as another process or machine would have), closed after the test;
    ``owner`` names its lease holder: "other-host:4242:beef" acts as another machine's process,
    whose leases are judged by their lease time alone (leases.holder_alive)."""
    opened: list[Journal] = []

    def open_one(*, lease_seconds: float = 30.0, owner: str | None = None) -> Journal:
        journal = Journal(ledger_where, lease_seconds=lease_seconds)
        opened.append(journal)
        if owner is not None:
            journal.owner = owner
        return journal

    yield open_one
    for journal in opened:
        journal.close()


def wait_lapsed(
    journal: Journal, owner: str, table: str, column: str = "owner", within: float = 15.0
) -> None:
    """Return once every lease ``owner`` holds in ``table`` has lapsed by the ledger's clock
    (the holder must have stopped renewing: closed, or never started its heartbeat)."""
    deadline = time.monotonic() + within
    while True:
        with journal._read() as db:
            (until,) = db.execute(
                f"SELECT max(lease_until) FROM {table} WHERE {column} = ?", (owner,)
            ).fetchone()
            now = db.now()
        if until is None or float(until) < now:
            return
        assert time.monotonic() < deadline, f"{owner}'s lease in {table} never lapsed"
        time.sleep(min(0.05, max(0.0, float(until) - now) + 0.005))


@pytest.fixture
def lapsed() -> Callable[..., None]:
    """``lapsed(journal, owner, table, column="owner")``: see :func:`wait_lapsed`."""
    return wait_lapsed


# A node of the farm, a process of its own: argv is the ledger, the holder name, the action and
# its arguments. It prints "ready" once it has started (opened the ledger, for "reserve"), waits
# for a line on stdin so that every node acts at once, then prints what happened:
#   open                    -> "opened <versions>"
#   reserve AMOUNT LIMIT    -> "reserved <id>" or "over <exit code>" (one total budget of
#                              LIMIT for project "p")
NODE = """\
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from uprez.errors import BudgetError
from uprez.journal.store import Journal


@dataclass(frozen=True)
class Rule:
    project: str
    period: str
    usd: Decimal


where, owner, action, *args = sys.argv[1:]
target = where if "://" in where else Path(where)
journal = None
if action == "reserve":
    journal = Journal(target)
    journal.owner = owner
print("ready", flush=True)
sys.stdin.readline()
try:
    if action == "open":
        journal = Journal(target)
        with journal._read() as db:
            versions = sorted(v for (v,) in db.execute("SELECT version FROM schema_versions"))
        print("opened", ",".join(map(str, versions)), flush=True)
    elif action == "reserve":
        amount, limit = Decimal(args[0]), Decimal(args[1])
        try:
            ids, _ = journal.reserve({("p", owner): amount}, [Rule("p", "total", limit)])
            print("reserved", ids[("p", owner)], flush=True)
        except BudgetError as exc:
            print("over", exc.exit_code, flush=True)
finally:
    if journal is not None:
        journal.close()
"""


def run_nodes(where: Path | str, action: str, owners: list[str], *args: str) -> list[str]:
    """Start one node process per owner (see ``NODE``), let them all act at once once each is
    ready, and return what each printed, in the owners' order."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", NODE, str(where), owner, action, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for owner in owners
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if line != "ready":
                assert process.stderr is not None
                raise AssertionError(f"a node did not start: {line!r} {process.stderr.read()}")
        for process in processes:  # every node is waiting: let them go together
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = []
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            outputs.append(out.strip())
        return outputs
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def nodes() -> Callable[..., list[str]]:
    """``nodes(where, action, owners, *args)``: see :func:`run_nodes`."""
    return run_nodes
