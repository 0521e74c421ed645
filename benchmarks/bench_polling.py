"""How soon a finished task is noticed, and for how many polls: uprez against the official SDK.

The server's processing is paced to the video's duration (``speed_factor=1``), so a 2 s, 30 s or
300 s clip makes a task of that length. uprez and the SDK (``wavespeed.Client.run``, polling every
second, its default) run the same tasks side by side, all at once, on a server with a worker per
task so none queues. Lateness is measured against the server's own record of when each task
finished (same process, same clock); polls are counted by the server.

uprez runs one 2 s job first, untimed: what it learns there (seconds of service per second of
video) is what lets it sleep through the longer tasks. A studio's first job against a service
polls on the growing schedule instead; that job's figures are in the 2 s row's note.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wavespeed

from benchmarks.common import LENIENT_TWIN, UNPACED_CLIENT, Row
from uprez.config import load_config
from uprez.media.synth import make_clip
from uprez.protocol import DEFAULT_MODEL
from uprez.records import JobEvent
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.standin.store import Prediction
from uprez.wavespeed.provider import WaveSpeedProvider

KEY = "bench-key"
SDK_POLL = 1.0  # the SDK's default poll_interval


@dataclass(frozen=True)
class Outcome:
    """One task as watched by one client: how late it was noticed, and how many polls."""

    late: float
    polls: int


def allowed_lateness(seconds: float) -> float:
    """The target: noticed within max(0.5 s, 5% of the task)."""
    return max(0.5, 0.05 * seconds)


class Bench:
    """A paced server, clips of each length, and the two clients."""

    def __init__(self, server: LocalServer, folder: Path) -> None:
        self.server = server
        self.folder = folder
        self.provider = WaveSpeedProvider.from_config(
            load_config(env={}, overrides=UNPACED_CLIENT), base_url=server.base_url, api_key=KEY
        )
        self.sdk = wavespeed.Client(api_key=KEY, base_url=server.base_url)
        self.clips: dict[float, Path] = {}

    def clip(self, seconds: float) -> Path:
        """A tiny real video of ``seconds`` (one frame a second: cheap to upscale)."""
        if seconds not in self.clips:
            path = self.folder / f"clip-{seconds:g}s.mp4"
            make_clip(path, seconds=seconds, fps=1, width=32, height=18, audio=False)
            self.clips[seconds] = path
        return self.clips[seconds]

    def prediction(self, task_id: str) -> Prediction:
        app = self.server.app
        assert app is not None
        pred = app.predictions.get(task_id, time.time())
        assert pred is not None and pred.finished_at is not None
        return pred

    def ours(self, seconds: float, tag: str) -> Outcome:
        """One uprez job; completion is noticed when the download starts."""
        noticed: list[float] = []

        def emit(event: JobEvent) -> None:
            if event.kind == "downloading" and not noticed:
                noticed.append(time.monotonic())

        target = self.folder / f"ours-{tag}.mp4"
        result = self.provider.run(self.clip(seconds), target, emit=emit)
        pred = self.prediction(result.task_id)
        assert pred.finished_at is not None
        return Outcome(noticed[0] - pred.finished_at, pred.polls)

    def theirs(self, seconds: float) -> Outcome:
        """The same job through the official SDK, polling every second."""
        url = self.sdk.upload(str(self.clip(seconds)))
        self.sdk.run(DEFAULT_MODEL, {"video": url}, poll_interval=SDK_POLL, timeout=seconds + 120)
        noticed = time.monotonic()
        app = self.server.app
        assert app is not None
        pred = next(p for p in app.predictions.all() if p.input.get("video") == url)
        assert pred.finished_at is not None
        return Outcome(noticed - pred.finished_at, pred.polls)

    def close(self) -> None:
        self.provider.close()


def side_by_side(bench: Bench, lengths: list[float], repeats: int) -> dict[str, list[Outcome]]:
    """Every job of both clients at once, in threads; outcomes keyed by client and length."""
    results: dict[str, list[Outcome]] = {}
    lock = threading.Lock()
    failures: list[BaseException] = []

    def job(key: str, action: Callable[[], Outcome]) -> None:
        try:
            outcome = action()
        except BaseException as exc:  # reported after the join
            failures.append(exc)
            return
        with lock:
            results.setdefault(key, []).append(outcome)

    threads = []
    for seconds in lengths:
        for i in range(repeats):
            for key, action in (
                (f"uprez {seconds:g}", lambda s=seconds, i=i: bench.ours(s, f"{s:g}-{i}")),
                (f"sdk {seconds:g}", lambda s=seconds: bench.theirs(s)),
            ):
                threads.append(threading.Thread(target=job, args=(key, action)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results


def rows_for(seconds: float, ours: list[Outcome], sdk: list[Outcome], note: str) -> list[Row]:
    late = statistics.median(o.late for o in ours)
    sdk_late = statistics.median(o.late for o in sdk)
    polls = statistics.median(o.polls for o in ours)
    sdk_polls = statistics.median(o.polls for o in sdk)
    allowed = allowed_lateness(seconds)
    return [
        Row(
            f"{seconds:g} s task: completion noticed late by (median; baseline: SDK, 1 s polls)",
            late,
            sdk_late,
            "s",
            f"<= {allowed:g} s",
            late <= allowed,
            note=note,
        ),
        Row(
            f"{seconds:g} s task: polls (median; baseline: SDK, 1 s polls)",
            polls,
            sdk_polls,
            "polls",
            "<= 0.33x",
            polls * 3 <= sdk_polls,
        ),
    ]


def run(quick: bool) -> list[Row]:
    lengths = [2.0, 30.0] if quick else [2.0, 30.0, 300.0]
    repeats = 3 if quick else 5
    workers = 2 * len(lengths) * repeats + 2
    settings = ServerSettings(
        api_key=KEY, max_size=(64, 36), workers=workers, speed_factor=1.0, **LENIENT_TWIN
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        LocalServer(settings) as server,
    ):
        bench = Bench(server, Path(folder))
        try:
            for seconds in lengths:
                bench.clip(seconds)
            cold = bench.ours(2.0, "cold")  # the first job knows nothing yet
            print(f"  cold 2 s job: late {cold.late:.2f} s, {cold.polls} polls", file=sys.stderr)
            results = side_by_side(bench, lengths, repeats)
        finally:
            bench.close()
    notes = {2.0: f"first job, no history: late {cold.late:.2f} s, {cold.polls} polls"}
    if quick:
        notes[30.0] = "the 300 s task runs in the full run only"
    rows: list[Row] = []
    for seconds in lengths:
        ours, sdk = results[f"uprez {seconds:g}"], results[f"sdk {seconds:g}"]
        rows += rows_for(seconds, ours, sdk, notes.get(seconds, ""))
    return rows
