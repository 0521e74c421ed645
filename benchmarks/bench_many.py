"""Two hundred jobs at once against a service that runs twenty tasks at a time, 2 s each.

Each job is uprez's real path as a watch folder or a host's thread pool runs it: its own
journal connection and job record (as ``uprez.step.run`` opens them), then one shared
``WaveSpeedProvider``'s ``run`` with the segment's journal record: upload, submit once, poll,
download. The server runs in its own process (``LocalServer``, as ``uprez serve`` does), so the
memory measured is the client's alone; its processing is a copy paced to 2 s, so what the
service cannot do faster (200 / 20 x 2 s) is the baseline, and the rest is the client's.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import requests

from benchmarks.common import (
    LENIENT_TWIN,
    UNPACED_CLIENT,
    Row,
    median,
    reset_peak_rss,
    rss_bytes,
    twin_process,
)
from uprez.config import Config, load_config
from uprez.journal.jobs import open_job
from uprez.journal.store import Journal
from uprez.media.synth import make_clip
from uprez.records import JobEvent
from uprez.step.checks import price_rule
from uprez.step.plan import Plan, Segment
from uprez.wavespeed.provider import WaveSpeedProvider

KEY = "bench-key"
JOBS = 200
LIMIT = 20  # tasks the service runs at once; the rest wait as "created"
TASK_SECONDS = 2.0


def server_process(
    limit: int, task_seconds: float, log_path: Path
) -> contextlib.AbstractContextManager[str]:
    """A local server in a child process (:func:`benchmarks.common.twin_process`); yields its
    base URL and stops it afterwards."""
    settings = {
        "api_key": KEY,
        "workers": limit,
        "task_seconds": task_seconds,
        "copy_factor": 1,
        **LENIENT_TWIN,
    }
    return twin_process(settings, log_path)


def write_sources(folder: Path, count: int) -> list[Path]:
    """``count`` small real clips that differ (by title), so each is its own job."""
    base = Path(make_clip(folder / "base.mp4", seconds=0.5, fps=12, width=64, height=36))
    sources = []
    for number in range(count):
        target = folder / f"shot{number:03d}.mp4"
        with av.open(str(base)) as inp, av.open(str(target), "w") as out:
            out.metadata["title"] = f"shot {number}"
            streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
            for packet in inp.demux():
                if packet.dts is None:
                    continue
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
        sources.append(target)
    return sources


def whole_plan(source: Path, config: Config) -> Plan:
    """The plan of a short source: one segment, the whole file (as ``uprez.step.estimate``
    makes)."""
    from uprez.media.probe import probe

    info = probe(source)
    whole = Segment(0, 0, info.frames, 0.0, info.duration, copy=True, whole=True)
    return Plan(info.duration, info.frames, Fraction(info.fps), (whole,), price_rule(config))


class PoolWarnings(logging.Handler):
    """Counts urllib3's "connection pool is full" warnings (connections thrown away)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "pool is full" in record.getMessage():
            self.count += 1


def lifetime_peak_rss() -> int:
    """The process's RSS high-water mark since it started, in bytes (Linux counts KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Outcome:
    """What a batch of jobs did."""

    wall: float = 0.0
    errors: list[str] = field(default_factory=list)
    job_seconds: list[float] = field(default_factory=list)
    rss_before: int = 0
    rss_peak: int = 0
    pool_warnings: int = 0
    peak_running: int = 0


def one_job(
    provider: WaveSpeedProvider,
    plan: Plan,
    source: Path,
    target: Path,
    journal_path: Path,
) -> None:
    """One job as ``uprez.step.run`` runs it: its own journal connection and record, then the
    provider's run with the segment's record, then the record closed as done."""
    journal = Journal(journal_path)
    try:
        job_log = open_job(
            journal,
            source=source,
            target=target,
            plan=plan,
            service=provider.identity,
            model=provider.model,
            inputs=provider.inputs,
        )
        [record] = job_log.records(1, resubmit=False)
        provider.run(source, target, emit=_ignore, record=record)
        job_log.done(str(plan.cost))
    finally:
        journal.close()


def run_batch(base_url: str, sources: list[Path], folder: Path, journal_path: Path) -> Outcome:
    """Every source as its own job, all at once (one thread each, released together)."""
    config = load_config(env={}, overrides={"provider.base_url": base_url, **UNPACED_CLIENT})
    provider = WaveSpeedProvider.from_config(config, base_url=base_url, api_key=KEY)
    plan = whole_plan(sources[0], config)
    outcome = Outcome()
    lock = threading.Lock()
    gate = threading.Barrier(len(sources) + 1)

    def job(source: Path) -> None:
        gate.wait()
        started = time.perf_counter()
        try:
            one_job(provider, plan, source, folder / f"{source.stem}_up.mp4", journal_path)
        except Exception as exc:  # every failure counts, whatever its kind
            with lock:
                outcome.errors.append(f"{source.name}: {type(exc).__name__}: {exc}")
            return
        with lock:
            outcome.job_seconds.append(time.perf_counter() - started)

    watcher = PoolWarnings()
    logging.getLogger("urllib3.connectionpool").addHandler(watcher)
    threads = [threading.Thread(target=job, args=(s,), name=f"job-{s.stem}") for s in sources]
    try:
        outcome.rss_before = rss_bytes("VmRSS")
        resettable = reset_peak_rss()
        for thread in threads:
            thread.start()
        gate.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        outcome.wall = time.perf_counter() - started
        outcome.rss_peak = rss_bytes("VmHWM") if resettable else lifetime_peak_rss()
    finally:
        logging.getLogger("urllib3.connectionpool").removeHandler(watcher)
        provider.close()
    outcome.pool_warnings = watcher.count
    outcome.peak_running = server_stats(base_url)["peak_running"]
    return outcome


def _ignore(event: JobEvent) -> None:
    """Progress goes nowhere: the benchmark measures the jobs, not a display."""


def server_stats(base_url: str) -> dict[str, Any]:
    answer = requests.get(
        f"{base_url}/_uprez/stats",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    answer.raise_for_status()
    data: dict[str, Any] = answer.json()["data"]
    return data


def run(quick: bool) -> list[Row]:
    repeats = 1 if quick else 3
    ideal = -(-JOBS // LIMIT) * TASK_SECONDS  # the service's own bound: waves of LIMIT tasks
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        sources = write_sources(folder, JOBS)
        for attempt in range(repeats):
            # A fresh server each time, so its peak counts this batch alone; a fresh journal,
            # or the jobs would find their tasks from the batch before.
            with server_process(LIMIT, TASK_SECONDS, folder / "server.log") as base_url:
                outcomes.append(
                    run_batch(base_url, sources, folder, folder / f"journal-{attempt}.sqlite3")
                )
            for path in folder.glob("*_up.mp4"):
                path.unlink()
    return rows(outcomes, ideal)


def rows(outcomes: list[Outcome], ideal: float) -> list[Row]:
    """The table's rows from the batches' outcomes (medians where there were several)."""
    errors = sum(len(o.errors) for o in outcomes)
    peak = max(o.peak_running for o in outcomes)
    warnings = sum(o.pool_warnings for o in outcomes)
    wall = median([o.wall for o in outcomes])
    overhead = (wall - ideal) / JOBS
    # The largest growth: after the first batch, memory the process already holds is reused.
    growth = max(max(0, o.rss_peak - o.rss_before) for o in outcomes) / 2**20
    before = min(o.rss_before for o in outcomes) / 2**20
    for outcome in outcomes:
        for error in outcome.errors[:3]:
            logging.getLogger(__name__).warning("job failed: %s", error)
    runs = f"{len(outcomes)} run(s)"
    return [
        Row(
            f"{JOBS} jobs at once, limit {LIMIT}, {TASK_SECONDS:g} s each: wall",
            wall,
            ideal,
            "s",
            f"0 errors, peak <= {LIMIT}",
            errors == 0 and peak <= LIMIT,
            note=(
                f"baseline: the service-bound {JOBS}/{LIMIT} x {TASK_SECONDS:g} s; "
                f"{errors} errors, peak {peak} running, {warnings} pool-full warnings, {runs}"
            ),
        ),
        Row(
            "per-job client overhead: (wall - ideal) / jobs",
            overhead,
            TASK_SECONDS,
            "s",
            "reported",
            True,
            note=f"baseline: one task's service time; job walls median "
            f"{median([median(o.job_seconds) for o in outcomes if o.job_seconds] or [0.0]):.1f} s",
        ),
        Row(
            f"client peak memory growth, {JOBS} jobs",
            growth,
            before,
            "MiB",
            "reported",
            True,
            note="baseline: the process's RSS before; the largest over the runs; "
            "the server in its own process",
        ),
    ]
