"""The whole ``uprez upscale`` command against a bare script doing the same job on the wire.

Each side is a fresh process, timed from start to exit: ``python -m uprez upscale CLIP -o OUT``
with a config that points the ``wavespeed`` provider at a local stand-in server (one journal for
every run), and ``benchmarks/bare_upscale.py``, plain ``requests`` doing only what uprez does
on the wire (upload ticket + PUT, submit, polls on uprez's default schedule, download) and on
disk (the download synced and renamed into place, a sidecar written whole). Both run on the same
clip in each round, in alternating order (after an untimed warm-up of each); every round's clip
is new (one frame longer than the last), so uprez never hands back a result it made before.

The server really upscales (into 640x360, a fraction of a second for the 320x180 clip) and
holds every task to SERVICE_SECONDS, so the service's time is the same for both sides and does
not depend on how much CPU the client takes meanwhile. That time ends just before the fourth
poll of uprez's default schedule (at once, 0.25 s, 0.625 s, 1.19 s after the submit), which the
baseline follows; uprez, once its journal holds a finished task, sleeps until just after the
task's likely end instead. So both notice the end within about 0.2 s and the row measures the
command, not which side's polls happened to fall closer to the task's end. The server is
watched from this process, so each run is split into: before the submit (start-up, checks,
upload), the service's own time, how late the finished task was noticed (the first GET of its
output), and everything after that (download, verification, sidecar, exit); the row's note
gives their medians, so a side that won by polling would show.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import LENIENT_TWIN, UNPACED_CLIENT, Row, alternating, median, table
from uprez.config import load_config
from uprez.media.synth import make_clip
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

KEY = "bench-key"
BOX = (640, 360)
#: Every task takes the service this long (see the module's docstring).
SERVICE_SECONDS = 1.0
FPS = 24
FRAMES = 4 * FPS  # a 4 s clip; each round's has one frame more than the last
TARGET = 1.25
BARE = Path(__file__).with_name("bare_upscale.py")


@dataclass(frozen=True)
class Run:
    """One process's job, split at the moments the server saw."""

    wall: float  # process start to exit
    to_submit: float  # start to the submit's answer: start-up, checks, upload
    service: float  # submit to the task's end, at the server
    late: float  # the task's end to the first GET of its output (the polls' lateness)
    after: float  # that GET to exit: download, verification, sidecar, exit
    polls: int
    cpu: float  # the process's user + system time (less swayed by other load than wall time)


class Watch:
    """Timestamps (``time.monotonic``, which is one clock for every process on the machine)
    of the submits and output downloads the in-process server answers."""

    def __init__(self, server: LocalServer) -> None:
        app = server.app
        assert app is not None
        self.app = app
        self._lock = threading.Lock()
        self.submits: list[float] = []
        self.outputs: list[float] = []
        self._wrap(app, "on_submit", self.submits)
        self._wrap(app.cdn, "on_output", self.outputs)

    def _wrap(self, face: object, name: str, stamps: list[float]) -> None:
        handler: Callable[..., Any] = getattr(face, name)

        def stamped(*args: Any, **kwargs: Any) -> Any:
            answer = handler(*args, **kwargs)
            with self._lock:
                stamps.append(time.monotonic())
            return answer

        # An instance attribute wins over the method: the face dispatches by getattr.
        setattr(face, name, stamped)

    def measure(self, command: list[str], env: dict[str, str], target: Path) -> Run:
        """Run ``command``, which must make ``target`` and its sidecar through one task."""
        with self._lock:
            self.submits.clear()
            self.outputs.clear()
        tasks_before = len(self.app.predictions.all())
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        ended = time.monotonic()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime - used.ru_utime - used.ru_stime
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command[:4])} ... exited {done.returncode}:\n{done.stderr[-2000:]}"
            )
        tasks = self.app.predictions.all()[tasks_before:]
        if len(tasks) != 1 or len(self.submits) != 1 or not self.outputs:
            raise RuntimeError(
                f"expected one task, one submit and a download; saw {len(tasks)} task(s), "
                f"{len(self.submits)} submit(s), {len(self.outputs)} output GET(s)"
            )
        for made in (target, target.with_name(target.name + ".uprez.json")):
            if not made.is_file():
                raise RuntimeError(f"{command[:4]} did not write {made}")
        finished = tasks[0].finished_at
        assert finished is not None
        submitted, fetched = self.submits[0], self.outputs[0]
        return Run(
            wall=ended - started,
            to_submit=submitted - started,
            service=finished - submitted,
            late=fetched - finished,
            after=ended - fetched,
            polls=tasks[0].polls,
            cpu=cpu,
        )


def _environment() -> dict[str, str]:
    """This process's environment, without uprez settings, with the server's key.

    Without ``PYTHONDONTWRITEBYTECODE`` too: an installed uprez runs from cached bytecode (pip
    compiles it; an editable install caches it on first use, here the warm-up), as requests
    does for the baseline. With it set, every run would compile uprez's own modules again.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UPREZ_")
        and name not in ("WAVESPEED_API_KEY", "PYTHONDONTWRITEBYTECODE")
    }
    env["WAVESPEED_API_KEY"] = KEY
    return env


def _config_file(folder: Path, base_url: str) -> Path:
    """uprez's config: the wavespeed provider at the server, one journal, no pacing, results
    checked against the server's box, polls without jitter (the baseline has none)."""
    sections: dict[str, dict[str, object]] = {
        "provider": {"name": "wavespeed", "base_url": base_url, "allow_insecure_http": True},
        "journal": {"path": str(folder / "journal.sqlite3")},
        "verify": {"target_size": f"{BOX[0]}x{BOX[1]}"},
        "polling": {"jitter": 0.0},
    }
    for key, value in UNPACED_CLIENT.items():
        section, name = key.split(".")
        sections.setdefault(section, {})[name] = value
    path = folder / "uprez.json"
    path.write_text(json.dumps(sections, indent=2))
    return path


def _schedule() -> list[str]:
    """uprez's default polling schedule, as the baseline's arguments."""
    defaults = load_config(env={})
    return [
        str(float(defaults.get(f"polling.{name}")))
        for name in ("first_interval", "factor", "max_interval")
    ]


def _phases(runs: list[Run]) -> dict[str, float]:
    return {
        "to_submit": median([r.to_submit for r in runs]),
        "service": median([r.service for r in runs]),
        "late": median([r.late for r in runs]),
        "after": median([r.after for r in runs]),
        "polls": median([float(r.polls) for r in runs]),
        "cpu": median([r.cpu for r in runs]),
    }


def _say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _show(side: str, run: Run) -> str:
    return (
        f"{side} {run.wall:.2f} s = before submit {run.to_submit:.2f} + service "
        f"{run.service:.2f} + noticed {run.late:.2f} late ({run.polls} polls) + after "
        f"{run.after:.2f}; CPU {run.cpu:.2f} s"
    )


def run(quick: bool) -> list[Row]:
    clips = 3 if quick else 5
    settings = ServerSettings(
        api_key=KEY, max_size=BOX, workers=2, task_seconds=SERVICE_SECONDS, **LENIENT_TWIN
    )
    env = _environment()
    schedule = _schedule()
    with tempfile.TemporaryDirectory() as folder, LocalServer(settings) as server:
        work = Path(folder)
        config = _config_file(work, server.base_url)
        watch = Watch(server)
        sources = []
        for index in range(clips + 1):  # the first warms both sides up, untimed
            path = work / f"clip{index}.mp4"
            make_clip(path, seconds=(FRAMES + index) / FPS, fps=FPS, width=320, height=180)
            sources.append(path)
        rounds = iter(range(clips + 1))
        current: list[int] = []

        def ours(index: int) -> Run:
            target = work / f"uprez{index}.mp4"
            command = [sys.executable, "-m", "uprez", "upscale", str(sources[index])]
            command += ["-o", str(target), "--config", str(config)]
            return watch.measure(command, env, target)

        def bare(index: int) -> Run:
            target = work / f"bare{index}.mp4"
            command = [sys.executable, str(BARE), server.base_url, str(sources[index])]
            command += [str(target), *schedule]
            return watch.measure(command, env, target)

        warm_ours, warm_bare = ours(next(rounds)), bare(0)
        _say("warm-up (untimed): " + _show("uprez", warm_ours) + "; " + _show("bare", warm_bare))
        a: list[Run] = []
        b: list[Run] = []

        def first() -> float:
            # alternating() calls first() or second() first; whichever comes first takes the
            # round's clip, and the other runs on the same one.
            if len(a) == len(b):
                current[:] = [next(rounds)]
            a.append(ours(current[0]))
            _say(f"clip {current[0]}: " + _show("uprez", a[-1]))
            return a[-1].wall

        def second() -> float:
            if len(a) == len(b):
                current[:] = [next(rounds)]
            b.append(bare(current[0]))
            _say(f"clip {current[0]}: " + _show("bare ", b[-1]))
            return b[-1].wall

        walls_a, walls_b = alternating(first, second, clips)
    ours_at, bare_at = _phases(a), _phases(b)
    ratio = median(walls_a) / median(walls_b)
    note = (
        f"{clips} clips, medians, uprez {median(walls_a) - median(walls_b):+.2f} s; uprez vs "
        f"bare: before submit {ours_at['to_submit']:.2f} vs "
        f"{bare_at['to_submit']:.2f} s, service {ours_at['service']:.2f} vs "
        f"{bare_at['service']:.2f} s, noticed late {ours_at['late']:.2f} vs "
        f"{bare_at['late']:.2f} s, after {ours_at['after']:.2f} vs {bare_at['after']:.2f} s; "
        f"CPU {ours_at['cpu']:.2f} vs {bare_at['cpu']:.2f} s"
    )
    return [
        Row(
            "whole `uprez upscale` command, 4 s clip (process start to exit)",
            median(walls_a),
            median(walls_b),
            "s",
            f"<= {TARGET:g}x",
            ratio <= TARGET,
            note=note,
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_command")
    parser.add_argument("--quick", action="store_true", help="3 clips instead of 5")
    rows = run(parser.parse_args().quick)
    print(table(rows))
    sys.exit(0 if all(row.met for row in rows) else 1)
