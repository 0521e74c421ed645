"""A farm of node processes on one shared ledger against the service-bound ideal.

Four ``uprez upscale`` processes, each a node of its own (HOME, data folder, ``UPREZ_NODE``),
upscale distinct shots (no duplicates, one segment each) through one account that runs two
tasks at once. The local server paces every task to the service's processing time
(``speed_factor``: 1 s per second of video, so a 5 s shot takes 5 s). However well the nodes
share the account's turns through the ledger, the account runs only two tasks at a time, so the
shots cannot all be done sooner than ``ceil(shots / 2) x T`` after the first submit, where ``T``
is one task's processing time as the server measured it in this very run (the median of the
sidecars' ``timings.inference_ms``). That ideal is the baseline; the row is the farm's
throughput (shots a minute) from the first submit to the last node's exit against it. What
falls inside is what the ledger decides: how soon a freed slot is taken by a waiting node (the
finishing node noticing its task's end, the waiting node's next look at its turn), plus the
last node's download and hand-off of its result.

The nodes' start-up (Python, imports, probing and hashing the shots, the first upload: about a
second when four processes start at once on two cores) is left out of the row and given in its
note, with the throughput it would make counted in: it is paid once per node, not per shot,
and in a run short enough for a benchmark it would decide the ratio (a quick run's 20 s of
work against a second of start-up) rather than the scheduling. The quick run has fewer shots
and the same verdict.

The same farm runs on a shared PostgreSQL ledger (a server of its own, run durably) and on one
SQLite file shared by the processes of this machine.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import av

from benchmarks.bench_ledger import POSTGRES, SQLITE, postgres_module
from benchmarks.common import Row, median
from uprez.media.synth import make_clip
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

KEY = "bench-farm-key"
BOX = (128, 72)
NODES = 4
AT_ONCE = 2  # the account's tasks at once: the service's bound
PER_MINUTE = 1000  # submits a minute: high enough never to bind
CLIP_SECONDS = 5.0
SPEED = 1.0  # service seconds per second of video: 5 s a task
TARGET = 0.9
TIMEOUT = 300.0


def write_shots(folder: Path, count: int) -> list[Path]:
    """``count`` distinct 5 s clips: one real clip, remuxed with a title of its own each, so
    every shot is its own content (its own job, its own task) at the same processing cost."""
    base = Path(make_clip(folder / "base.mp4", seconds=CLIP_SECONDS, fps=12, width=64, height=36))
    shots = []
    for number in range(count):
        target = folder / f"sh{number:03d}0.mp4"
        with av.open(str(base)) as inp, av.open(str(target), "w") as out:
            out.metadata["title"] = f"shot {number}"
            streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
            for packet in inp.demux():
                if packet.dts is None:
                    continue
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
        shots.append(target)
    base.unlink()
    return shots


def node_env(base_url: str, ledger: dict[str, str], home: Path, name: str) -> dict[str, str]:
    """A node's environment: this one without its uprez settings, aimed at the local server,
    with a home and a machine name of its own and the shared ledger."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("UPREZ_") and key != "WAVESPEED_API_KEY"
    }
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        UPREZ_NODE=name,
        UPREZ_PROJECT="bench",
        UPREZ_USER=f"artist-{name}",
        UPREZ_PROVIDER__NAME="wavespeed",
        UPREZ_PROVIDER__BASE_URL=base_url,
        WAVESPEED_API_KEY=KEY,
        UPREZ_VERIFY__TARGET_SIZE=f"{BOX[0]}x{BOX[1]}",
        UPREZ_ACCOUNT__LEVEL="custom",
        UPREZ_ACCOUNT__SUBMITS_PER_MINUTE=str(PER_MINUTE),
        UPREZ_ACCOUNT__CONCURRENT_TASKS=str(AT_ONCE),
        UPREZ_POLLING__FIRST_INTERVAL="0.05",
        UPREZ_POLLING__MAX_INTERVAL="0.2",
        **ledger,
    )
    return env


@dataclass
class Farm:
    """What one farm run did."""

    wall: float = 0.0
    task_seconds: list[float] = field(default_factory=list)
    first_submit: float = 0.0  # seconds from the launch
    service_span: float = 0.0  # first submit to the last task's end
    last_exit_after_task: float = 0.0  # the last task's end to the last node's exit
    peak_running: int = 0
    tasks: int = 0
    failures: list[str] = field(default_factory=list)


def run_farm(base: Path, shots: list[Path], server: LocalServer, ledger: dict[str, str]) -> Farm:
    """Start every node at once, each with its share of ``shots``; wait for them all."""
    assert server.app is not None
    before = {p.id for p in server.app.predictions.all()}
    processes = []
    outs = []
    launched_wall, launched = time.time(), time.monotonic()
    for number in range(NODES):
        home = base / f"node{number}"
        out = home / "out"
        out.mkdir(parents=True)
        mine = shots[number::NODES]
        log = (home / "run.log").open("wb")
        command = [sys.executable, "-m", "uprez", "upscale", *map(str, mine), "-o", f"{out}/"]
        processes.append(
            subprocess.Popen(
                [*command, "--json"],
                env=node_env(server.base_url, ledger, home, f"bench-node-{number}"),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=home,
            )
        )
        log.close()
        outs.append((home, out, mine))
    farm = Farm()
    try:
        for process in processes:
            process.wait(TIMEOUT)
    finally:
        for process in processes:  # only after a timeout or an interrupt
            if process.poll() is None:
                process.kill()
                process.wait()
    farm.wall = time.monotonic() - launched
    for (home, out, mine), process in zip(outs, processes, strict=True):
        if process.returncode != 0:
            farm.failures.append(f"{home.name} exited {process.returncode}")
            print((home / "run.log").read_text(errors="replace")[-2000:], file=sys.stderr)
        for shot in mine:
            sidecar = out / f"{shot.stem}_4k.mp4.uprez.json"
            if not sidecar.is_file():
                farm.failures.append(f"{home.name}: no sidecar for {shot.name}")
                continue
            timings = json.loads(sidecar.read_text())["timings"]
            farm.task_seconds.append(timings["inference_ms"] / 1000)
    tasks = [p for p in server.app.predictions.all() if p.id not in before]
    farm.tasks = len(tasks)
    if tasks:
        farm.first_submit = min(p.created for p in tasks) - launched_wall
        ends = [p.finished_at - launched for p in tasks if p.finished_at is not None]
        farm.service_span = max(ends) - farm.first_submit
        farm.last_exit_after_task = farm.wall - max(ends)
    return farm


@contextmanager
def farm_server() -> Iterator[LocalServer]:
    settings = ServerSettings(
        api_key=KEY,
        max_size=BOX,
        workers=AT_ONCE,
        account_level="silver",
        submits_per_minute=PER_MINUTE,
        concurrent_tasks=AT_ONCE,
        speed_factor=SPEED,
    )
    with LocalServer(settings) as server:
        yield server


def row(engine: str, farm: Farm, shots: int) -> Row:
    """The farm's throughput from its first submit against the service-bound ideal of the same
    run; the note gives it with the nodes' start-up counted too."""
    task = median(farm.task_seconds) if farm.task_seconds else float("nan")
    ideal = math.ceil(shots / AT_ONCE) * task
    window = farm.wall - farm.first_submit
    ours = shots / window * 60
    best = shots / ideal * 60
    ok = not farm.failures and farm.tasks == shots and farm.peak_running <= AT_ONCE
    return Row(
        f"farm of {NODES} node processes, {engine} ledger, {shots} distinct 5 s shots, account "
        f"{AT_ONCE} at once: throughput from the first submit to the last exit",
        ours,
        best,
        "shots/min",
        f">= {TARGET}x",
        ok and ours / best >= TARGET,
        note=(
            f"baseline: the service-bound ceil({shots}/{AT_ONCE}) x {task:.2f} s, a task's "
            f"median inference time in this run, = {ideal:.1f} s; node start-up (launch to the "
            f"first submit) {farm.first_submit:.1f} s not counted: with it, "
            f"{shots / farm.wall * 60:.3g} shots/min, {ideal / farm.wall:.2f}x; service busy "
            f"{farm.service_span:.1f} s from the first submit to the last task's end, last exit "
            f"{farm.last_exit_after_task:.2f} s after it; {farm.tasks} tasks, peak "
            f"{farm.peak_running} running"
            + (f"; FAILED: {'; '.join(farm.failures[:3])}" if farm.failures else "")
        ),
    )


def run(quick: bool) -> list[Row]:
    count = 4 if quick else 12
    postgres = postgres_module(durable=True)
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        (folder / "shots").mkdir()
        shots = write_shots(folder / "shots", count)
        with postgres.PostgresServer() as database:
            for engine in (POSTGRES, SQLITE):
                if engine == POSTGRES:
                    ledger = {"UPREZ_JOURNAL__URL": database.fresh_database("farm")}
                else:
                    ledger = {"UPREZ_JOURNAL__PATH": str(folder / "shared" / "ledger.sqlite3")}
                base = folder / engine.lower()
                with farm_server() as server:
                    farm = run_farm(base, shots, server, ledger)
                    assert server.app is not None
                    farm.peak_running = server.app.processor.peak_running
                shutil.rmtree(base, ignore_errors=True)
                rows.append(row(engine, farm, count))
    return rows
