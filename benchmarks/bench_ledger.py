"""The ledger's cost per job, on PostgreSQL and on SQLite, against a whole job's time.

One job is the ledger work that ``uprez upscale`` of one single-segment shot does, call for
call, through the same functions (the prepare step's look at the learned upload limit, then the
batch's ledger: :func:`uprez.journal.jobs.open_job`, the segment's :class:`TaskRecord` as
``run_segments``, ``WaveSpeedProvider.run`` and ``submit_once`` use it, the task times the poller
reads and learns, the hand-off's settle and "done", and the close): 2 connections opened, 6
reads, 16 write transactions. Only the HTTP and the media work are left out.

The baseline gives the figure its meaning: with the journal off the ledger costs nothing, so
the question is what share of a job it takes. The shortest job a real account runs is one task
of 5 s of video (the service bills 5 s at least, and takes at least as long as the video to
upscale it), so the baseline is a whole 5 s single-task job (upload, submit, the 5 s task,
download) on the local server paced at 1 s per second of video, without the journal, measured
in the same run. The target, at most 2% of it (about 0.1 s), keeps the ledger below what
polling already costs to notice a task's end (0.1 to 0.2 s); a farm's throughput is not
decided here but by how fast a freed slot is taken again (``bench_farm``).

PostgreSQL is a server of its own on this machine (loopback), run durably, as a studio's would
be: fsync and synchronous commits on, so every commit waits for its WAL to reach the disk. The
note gives the same on a database with ``synchronous_commit = off`` (what SQLite's WAL with
``synchronous=NORMAL`` gives: a commit survives the process, not a power cut), and what four
processes doing jobs back to back on one ledger and one account see: jobs a second in all,
how many of their turns waited in the account's queue though the account had slots free, and
the step whose time grows most.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from types import ModuleType

from benchmarks.common import LENIENT_TWIN, Row, median
from uprez.account import AccountLimits
from uprez.billing import PriceRule
from uprez.journal.charges import Payer
from uprez.journal.jobs import open_job
from uprez.journal.store import Journal
from uprez.media.synth import make_clip
from uprez.protocol import DEFAULT_MODEL
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.step.payer import prices
from uprez.step.plan import Plan, Segment
from uprez.wavespeed.eta import TaskTimes, Work

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-ledger-key"
BOX = (128, 72)
SERVICE = "wavespeed http://127.0.0.1:1"
MODEL = DEFAULT_MODEL
UPLOAD_SERVICE = "wavespeed|http://127.0.0.1:1"
#: A silver account (500 submits a minute, 300 tasks at once): every turn counts the submits of
#: the last minute, as a real account's would. Each measurement uses an account of its own and
#: stays under 500 submits, so no turn ever waits.
PER_MINUTE, AT_ONCE = 500, 300
LEASE = 30.0
CONTENDERS = 4
SHARE = 0.02  # of a whole 5 s job
POSTGRES, ASYNC, SQLITE = "PostgreSQL", "PostgreSQL async", "SQLite"
#: The steps that open the ledger (see :func:`ledger_job`).
PREPARE, OPEN = "prepare: open, upload_limit, close", "open"
#: The step that waits for the account's turn, and how long a wait shows it was queued (with
#: slots free and the minute's count far off, only a ticket behind another in the account's
#: queue waits: it looks again every 0.25 s, uprez.journal.turns._POLL).
TURN, QUEUED = "take_turn", 0.2
#: The server settings of a studio's PostgreSQL: what the tests' throwaway server turns off.
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def postgres_module(durable: bool = True) -> ModuleType:
    """The tests' throwaway PostgreSQL server (``tests/postgres.py``), loaded by its path as a
    module of our own (the tests folder is no package, and a dependency may have installed
    a ``tests`` package); ``durable`` turns fsync and synchronous commits back on in it."""
    spec = importlib.util.spec_from_file_location(
        "uprez_bench_postgres", ROOT / "tests" / "postgres.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if durable:
        vars(module)["SETTINGS"].update(DURABLE)  # this module's own copy: the tests' is untouched
    return module


class Laps:
    """Seconds spent in each named step of one job."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = self.steps.get(name, 0.0) + now - self._last
        self._last = now

    @property
    def total(self) -> float:
        return sum(self.steps.values())


def plan_of_one() -> Plan:
    """A 5 s shot sent whole: one segment."""
    whole = Segment(0, 0, 60, 0.0, 5.0, copy=True, whole=True)
    return Plan(5.0, 60, Fraction(12), (whole,), PriceRule())


def ledger_job(where: Path | str, source: Path, target: Path, account: AccountLimits) -> Laps:
    """The ledger work of one single-segment ``uprez upscale``, in its order; what each step
    took."""
    laps = Laps()
    plan = plan_of_one()
    # prepare: the learned upload limit (uprez.step.estimate.upload_limit)
    journal = Journal(where, lease_seconds=LEASE)
    journal.upload_limit(UPLOAD_SERVICE)
    journal.close()
    laps.lap(PREPARE)
    # run: the batch's ledger (uprez.step.run.run), the job's record (_run_planned)
    journal = Journal(where, lease_seconds=LEASE)
    laps.lap(OPEN)
    try:
        job = open_job(
            journal,
            source=source,
            target=target,
            plan=plan,
            service=SERVICE,
            model=MODEL,
            inputs={},
        )
        payer = Payer(SERVICE, MODEL, "bench", "artist")
        [record] = job.records(resubmit=False, prices=prices(plan, payer))
        laps.lap("open_job")
        # run_segments: the early upload (WaveSpeedProvider.upload)
        record.reusable_upload()
        record.uploaded(f"https://storage.example/{source.name}")
        laps.lap("upload: record_upload")
        # WaveSpeedProvider.run: _task_for, its upload (reused), submit_once, _send
        record.row()
        record.reusable_upload()
        verdict, _row = record.claim()
        assert verdict == "submit", verdict
        laps.lap("claim_submit")
        record.take_turn(account, time.monotonic() + 60)
        laps.lap(TURN)
        record.about_to_submit()
        laps.lap("charge")
        task_id = secrets.token_hex(16)
        record.submitted(task_id)
        laps.lap("submitted: update_segment, charge_made")
        # the poller's estimate (a fresh process reads the rates), then _wait's slot
        times, work = TaskTimes(), Work("seconds", 5.0)
        times.estimate(f"{SERVICE} {MODEL}", work, journal)
        record.adopt_turn(account)
        record.end_turn()
        laps.lap("wait: task_rates, adopt_turn, end_turn")
        record.completed([f"https://cdn.example/{task_id}.mp4"])
        times.learn(f"{SERVICE} {MODEL}", work, 5.2, journal)
        record.downloaded(str(target), 1)
        laps.lap("completed, add_task_rate, downloaded")
        # hand_off: settle, then done (finish_job, record_result)
        job.settle([task_id], target)
        job.done(str(plan.cost), source, target)
        laps.lap("hand-off: settle, finish_job, record_result")
    finally:
        journal.close()
        laps.lap("close")
    return laps


def write_sources(folder: Path, count: int) -> list[Path]:
    """``count`` small files of distinct content: each is its own job."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for number in range(count):
        path = folder / f"shot{number:04d}.mp4"
        path.write_bytes(f"shot {number}\n".encode() * 64)
        sources.append(path.resolve())
    return sources


def account(name: str) -> AccountLimits:
    return AccountLimits(f"bench-{name}-{secrets.token_hex(4)}", PER_MINUTE, AT_ONCE)


def run_jobs(
    where: Path | str, sources: list[Path], folder: Path, limits: AccountLimits
) -> list[Laps]:
    return [
        ledger_job(where, source, folder / f"{source.stem}_4k.mp4", limits) for source in sources
    ]


def contender() -> None:
    """One of several processes doing jobs at once (``python -c``): its orders come as one JSON
    line on stdin; it says "ready", waits for "go", and prints its jobs' laps as JSON."""
    orders = json.loads(sys.stdin.readline())
    limits = AccountLimits(*orders["account"])
    sources = [Path(s) for s in orders["sources"]]
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    laps = run_jobs(orders["where"], sources, Path(orders["folder"]), limits)
    print(json.dumps([lap.steps for lap in laps]), flush=True)


def contended(where: Path | str, sources: list[Path], folder: Path) -> tuple[float, list[Laps]]:
    """``CONTENDERS`` processes, each doing its share of ``sources`` as jobs, all at once on one
    ledger and one account; the wall time and every job's laps."""
    limits = account("contended")
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    code = "from benchmarks.bench_ledger import contender; contender()"
    workers = []
    try:
        for number in range(CONTENDERS):
            worker = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            workers.append(worker)
            orders = {
                "where": str(where),
                "sources": [str(s) for s in sources[number::CONTENDERS]],
                "folder": str(folder),
                "account": [limits.fingerprint, limits.per_minute, limits.at_once],
            }
            assert worker.stdin is not None
            worker.stdin.write(json.dumps(orders) + "\n")
            worker.stdin.flush()
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError("a contending process did not start")
        started = time.perf_counter()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = []
        for worker in workers:
            assert worker.stdout is not None
            results.append(json.loads(worker.stdout.readline()))
        wall = time.perf_counter() - started
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(30)
    laps = []
    for result in results:
        for steps in result:
            lap = Laps()
            lap.steps = steps
            laps.append(lap)
    return wall, laps


def whole_job_seconds(folder: Path, repeats: int) -> list[float]:
    """A 5 s single-task job on the local server paced at 1 s per second of video, through
    uprez's provider without the journal: upload, submit, the task, download."""
    from uprez.config import load_config
    from uprez.wavespeed.provider import WaveSpeedProvider

    clip = Path(make_clip(folder / "clip.mp4", seconds=5.0, fps=12, width=64, height=36))
    settings = ServerSettings(api_key=KEY, max_size=BOX, speed_factor=1.0, **LENIENT_TWIN)
    config = load_config(
        env={},
        overrides={
            "polling.first_interval": 0.05,
            "polling.max_interval": 0.2,
            "account.level": "custom",
            "account.submits_per_minute": PER_MINUTE,
            "account.concurrent_tasks": AT_ONCE,
        },
    )
    seconds = []
    with LocalServer(settings) as server:
        provider = WaveSpeedProvider.from_config(config, base_url=server.base_url, api_key=KEY)
        try:
            for number in range(repeats):
                target = folder / f"whole{number}.mp4"
                started = time.perf_counter()
                provider.run(clip, target, emit=lambda event: None)
                seconds.append(time.perf_counter() - started)
        finally:
            provider.close()
    return seconds


def per_job_ms(laps: list[Laps]) -> float:
    """The median job's ledger time, in ms."""
    return median([lap.total for lap in laps]) * 1000


def opening_ms(laps: list[Laps]) -> float:
    """The median job's time opening the ledger (twice: the prepare step's, the run's), ms."""
    return median([lap.steps[PREPARE] + lap.steps[OPEN] for lap in laps]) * 1000


def grown_step(alone: list[Laps], together: list[Laps]) -> str:
    """The step whose mean time grew most when processes contend (waits for the ledger's one
    writer fall on some jobs, not the median one), with both means."""

    def mean_ms(laps: list[Laps], name: str) -> float:
        return statistics.fmean(lap.steps[name] for lap in laps) * 1000

    name = max(alone[0].steps, key=lambda n: mean_ms(together, n) - mean_ms(alone, n))
    return f'"{name}" {mean_ms(alone, name):.1f} -> {mean_ms(together, name):.1f} ms'


@contextmanager
def ledgers(folder: Path) -> Iterator[dict[str, str]]:
    """The ledgers measured: PostgreSQL durable and with asynchronous commits, and SQLite."""
    import psycopg

    postgres = postgres_module(durable=True)
    with postgres.PostgresServer() as server:
        durable = server.fresh_database("ledger_durable")
        relaxed = server.fresh_database("ledger_async")
        with psycopg.connect(relaxed, autocommit=True) as admin:
            admin.execute("ALTER DATABASE ledger_async SET synchronous_commit = off")
        yield {
            POSTGRES: durable,
            ASYNC: relaxed,
            SQLITE: str(folder / "ledger.sqlite3"),
        }


def run(quick: bool) -> list[Row]:
    rounds, per_round, together = (1, 60, 40) if quick else (3, 60, 100)
    repeats = 1 if quick else 2
    warm = 10
    alone: dict[str, list[Laps]] = {}
    crowd: dict[str, tuple[float, list[Laps]]] = {}
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        job_seconds = whole_job_seconds(folder, repeats)
        sources = write_sources(folder / "src", warm + rounds * per_round + together)
        with ledgers(folder) as where:
            accounts = {engine: account(engine) for engine in where}
            for engine, place in where.items():
                run_jobs(place, sources[:warm], folder, accounts[engine])  # warm-up: not counted
                alone[engine] = []
            # Rounds interleaved, so that drift in the machine falls on every engine alike.
            for number in range(rounds):
                mine = sources[warm + number * per_round : warm + (number + 1) * per_round]
                for engine, place in where.items():
                    alone[engine] += run_jobs(place, mine, folder, accounts[engine])
            crowd_sources = sources[warm + rounds * per_round :]
            for engine in (POSTGRES, SQLITE):
                crowd[engine] = contended(where[engine], crowd_sources, folder)
    return rows(alone, crowd, median(job_seconds) * 1000)


def rows(
    alone: dict[str, list[Laps]], crowd: dict[str, tuple[float, list[Laps]]], job_ms: float
) -> list[Row]:
    """One row per engine: the median job's ledger time against a whole 5 s job's."""
    out = []
    for engine in (POSTGRES, SQLITE):
        laps = alone[engine]
        ms = per_job_ms(laps)
        wall, together = crowd[engine]
        relaxed = (
            f"; with synchronous_commit off {per_job_ms(alone[ASYNC]):.1f} ms"
            if engine == POSTGRES
            else ""
        )
        queued = sum(lap.steps[TURN] >= QUEUED for lap in together)
        out.append(
            Row(
                f"ledger work of one single-segment job (2 opens, 6 reads, 16 writes), {engine}",
                ms,
                job_ms,
                "ms",
                f"<= {SHARE:.2f}x",
                ms <= SHARE * job_ms,
                note=(
                    f"median of {len(laps)} jobs; baseline: a whole 5 s single-task job on the "
                    f"local server, journal off; opening the ledger twice {opening_ms(laps):.1f} "
                    f"ms of it{relaxed}; {CONTENDERS} processes at once: "
                    f"{len(together) / wall:.0f} jobs/s in all, median {per_job_ms(together):.1f} "
                    f"ms a job, {queued} of {len(together)} turns waited >= {QUEUED:g} s in the "
                    f"account's queue, most grown {grown_step(laps, together)}"
                ),
            )
        )
    return out
