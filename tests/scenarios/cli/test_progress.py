"""Progress on a terminal: the events of real two-segment jobs against a real local server,
drawn by the progress plugin into a rich console as a terminal would show them; and the command
line run under a real pseudo-terminal, drawing only there and never with ``--json``."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fcntl import ioctl
from pathlib import Path
from termios import TIOCSWINSZ
from typing import Any

import pytest
from rich.console import Console

from uprez.cli.progress import TerminalProgress
from uprez.cli.progress_board import Board, clock_text, size_text
from uprez.hookspecs import hookimpl
from uprez.media.synth import make_clip
from uprez.plugins import get_plugin_manager
from uprez.records import Artifact, JobEvent
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.step.run import run_upscale
from uprez.step.sidecar import sidecar_path
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, TEST_BOX, TEST_LEVEL, fast_config

WIDTH = 120
# The cursor moves and erasures rich redraws its lines with.
_REDRAW = re.compile(r"(?:\r|\x1b\[2K|\x1b\[1A)+")
_OTHER_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Recorder:
    """A plugin keeping every job event with the time it came."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.events: list[tuple[float, JobEvent]] = []

    @hookimpl
    def uprez_job_event(self, event: JobEvent) -> None:
        self.events.append((self.clock(), event))


@dataclass(frozen=True)
class Job:
    """One real job: its events as they came, and its sidecar."""

    name: str
    events: list[tuple[float, JobEvent]]
    sidecar: dict[str, Any]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> list[Job]:
    """Two jobs of two segments each (1 s clips, 0.5 s a segment, two at once) through one
    provider against a server that takes each task its video's length: the first runs with no
    history, the second with the rates the first taught the provider."""
    folder = tmp_path_factory.mktemp("progress")
    settings = ServerSettings(
        api_key=SECRET_KEY,
        max_size=TEST_BOX,
        workers=4,
        speed_factor=1.0,
        account_level=TEST_LEVEL,
    )
    config = fast_config(
        {
            "limits.max_duration": 0.5,
            "limits.concurrency": 2,
            "journal.path": str(folder / "journal.sqlite3"),
        }
    )
    pm = get_plugin_manager(env={})
    recorder = Recorder(time.monotonic)
    pm.register(recorder)
    found = []
    with LocalServer(settings) as server:
        provider = WaveSpeedProvider.from_config(
            config, base_url=server.base_url, api_key=SECRET_KEY
        )
        try:
            # Two pictures (the same content twice would be one job, paid once).
            for name, width, height in (("first.mp4", 64, 36), ("second.mp4", 96, 54)):
                clip = Path(make_clip(folder / name, seconds=1, fps=12, width=width, height=height))
                begun = len(recorder.events)
                made = run_upscale(Artifact(clip), config=config, pm=pm, provider=provider)
                sidecar = json.loads(sidecar_path(made.path).read_text())
                found.append(Job(name, recorder.events[begun:], sidecar))
        finally:
            provider.close()
    return found


@dataclass
class Drawn:
    """What the plugin drew: the display after each event, and everything written."""

    frames: list[list[str]]
    text: str


def plain(text: str) -> str:
    return _OTHER_CODES.sub("", text)


def last_frame(text: str) -> list[str]:
    """The lines on the terminal now: what was written after rich last redrew them."""
    chunks = [chunk for chunk in _REDRAW.split(plain(text)) if chunk.strip()]
    return [line.rstrip() for line in chunks[-1].splitlines()] if chunks else []


def draw(events: list[tuple[float, JobEvent]]) -> Drawn:
    """Feed ``events`` to the progress plugin through a real plugin manager, the clock set
    to each event's time, drawing into a terminal console of :data:`WIDTH` columns."""
    now = [0.0]
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=WIDTH, color_system=None)
    progress = TerminalProgress(console, clock=lambda: now[0], refresh=0.01)
    pm = get_plugin_manager(env={})
    pm.register(progress, name="cli-progress")
    frames = []
    try:
        for when, event in events:
            now[0] = when
            pm.hook.uprez_job_event(event=event)
            frames.append(last_frame(out.getvalue()))
    finally:
        progress.close()
    return Drawn(frames, plain(out.getvalue()))


def phase(line: str) -> str:
    """The phase word of a segment's line (after its label, "first.mp4 1/2")."""
    return line.split()[2] if len(line.split()) > 2 else ""


def expected_bill(job: Job) -> str:
    return f"billed {job.sidecar['billed_seconds']} s, ${job.sidecar['cost']}"


# -- the lines -------------------------------------------------------------------------------------


def test_each_segment_has_one_line_and_the_job_a_total_line_all_along(jobs: list[Job]) -> None:
    first = jobs[0]
    drawn = draw(first.events)

    running = drawn.frames[:-1]  # the last event, "completed", closes the job's lines
    assert running
    for frame in running:
        assert [line.split()[:2] for line in frame] == [
            ["first.mp4", "1/2"],
            ["first.mp4", "2/2"],
            ["first.mp4", "total"],
        ], frame
        assert all(len(line) <= WIDTH for line in frame)
    for index in (0, 1):
        seen = [phase(frame[index]) for frame in running]
        # Each phase in its turn, never back: uploads, the service's queue and work, download.
        order = [
            "waiting",
            "uploading",
            "uploaded",
            "submitted",
            "queued",
            "processing",
            "downloading",
            "done",
        ]
        assert {"uploading", "uploaded", "submitted", "processing", "downloading", "done"} <= set(
            seen
        )
        ranks = [order.index(p) for p in seen]
        assert ranks == sorted(ranks), seen
    assert "poll" not in drawn.text


def test_transfers_show_their_bytes_and_rate(jobs: list[Job]) -> None:
    first = jobs[0]
    drawn = draw(first.events)
    sizes = {
        (event.kind, event.detail["segment"]): event.detail["total"]
        for _, event in first.events
        if "total" in event.detail
    }

    for frame in drawn.frames[:-1]:
        for index, line in enumerate(frame[:2]):
            if phase(line) == "uploaded":
                size = size_text(sizes["uploading", index])
                assert re.search(rf"{size} uploaded in \d:\d\d · [\d.]+ [kMG]?B/s", line), line
            if phase(line) == "done":
                size = size_text(sizes["downloading", index])
                assert re.search(rf"{size} downloaded in \d:\d\d · [\d.]+ [kMG]?B/s", line), line


def test_the_total_line_counts_segments_done_and_bills_what_the_plan_bills(
    jobs: list[Job],
) -> None:
    first = jobs[0]
    assert (first.sidecar["billed_seconds"], first.sidecar["cost"]) == (10, "0.20")
    drawn = draw(first.events)
    totals = [frame[2] for frame in drawn.frames[:-1]]
    bill = expected_bill(first)

    # Uploaded, nothing submitted yet: nothing billed, the plan's bill beside it.
    assert any(
        line.endswith(f"0 of 2 segments done · billed 0 s, $0.00 of {bill[7:]}") for line in totals
    ), totals
    # Both tasks submitted: the whole bill.
    assert any(line.endswith(f"0 of 2 segments done · {bill}") for line in totals), totals
    assert any(line.endswith(f"1 of 2 segments done · {bill}") for line in totals), totals
    assert totals[-1].endswith(f"2 of 2 segments done · {bill}")
    # The job's lines give way to one line left on the terminal.
    assert f"first.mp4: finished, 2 of 2 segments done · {bill}" in drawn.text.splitlines()


# -- the time left ---------------------------------------------------------------------------------


def test_with_no_history_the_time_left_is_unknown(jobs: list[Job]) -> None:
    first = jobs[0]
    submitted = [e for _, e in first.events if e.kind == "submitted"]
    assert len(submitted) == 2
    assert not any("expected_s" in e.detail for e in submitted)

    drawn = draw(first.events)

    for index in (0, 1):
        working = [f[index] for f in drawn.frames if f and phase(f[index]) == "processing"]
        assert working
        assert working[0].endswith("· time left unknown"), working[0]


def test_then_it_comes_from_the_rate_the_provider_learned(jobs: list[Job]) -> None:
    second = jobs[1]
    submitted = [(t, e) for t, e in second.events if e.kind == "submitted"]
    assert len(submitted) == 2
    expected = [e.detail.get("expected_s") for _, e in submitted]
    # Learned from the first job's tasks, a second of video in all, each taking about its
    # length (the server's pace): half a second each.
    assert all(isinstance(x, float) and 0.2 < x < 5.0 for x in expected), expected

    board = Board()
    when, event = submitted[0]
    for at, earlier in second.events:
        board.feed(earlier, at)
        if earlier is event:
            break
    expected_s = event.detail["expected_s"]
    key = (str(event.source), event.step, event.detail["segment"])
    line = board.line(key, when + expected_s / 2)
    assert line is not None
    assert (line.completed, line.total) == pytest.approx((expected_s / 2, expected_s))
    assert line.info.endswith(f"· about {clock_text(expected_s / 2)} left")

    drawn = draw(second.events)
    working = [line for f in drawn.frames for line in f[:2] if phase(line) == "processing"]
    assert working
    assert not any("unknown" in line for line in working), working


def test_without_a_learned_rate_a_segment_is_timed_by_its_finished_siblings(
    jobs: list[Job],
) -> None:
    first = jobs[0]
    board = Board()
    submitted_at: dict[int, float] = {}
    for when, event in first.events:
        board.feed(event, when)
        if event.kind == "submitted":
            submitted_at[event.detail["segment"]] = when
        if event.kind == "downloading":  # the first segment the service finished
            done = event.detail["segment"]
            break
    other = 1 - done
    took = when - submitted_at[done]  # the server never queued them: four workers for two

    line = board.line((str(event.source), event.step, other), when)

    assert line is not None
    assert line.phase == "processing"
    # The same length of video: the same time expected.
    assert line.total == pytest.approx(took)


# -- where it is drawn -----------------------------------------------------------------------------


def run_on_a_terminal(args: list[str | Path], cwd: Path, *, terminal: bool) -> tuple[int, str, str]:
    """``python -m uprez ARGS``, its stderr a pseudo-terminal of 120 columns (``terminal``)
    or a pipe, its stdout a pipe; returns the exit code, stdout and stderr."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UPREZ_") and name != "WAVESPEED_API_KEY"
    }
    env.update(
        UPREZ_LOCAL__MAX_SIZE="256x144",
        UPREZ_POLLING__FIRST_INTERVAL="0.05",
        UPREZ_LIMITS__MAX_DURATION="0.5",
        TERM="xterm-256color",
    )
    command = [sys.executable, "-m", "uprez", *map(str, args)]
    if not terminal:
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=cwd, env=env, timeout=120
        )
        return done.returncode, done.stdout, done.stderr
    main, side = pty.openpty()
    ioctl(side, TIOCSWINSZ, struct.pack("HHHH", 40, WIDTH, 0, 0))
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other side closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=side,
            cwd=cwd,
            env=env,
        )
        os.close(side)
        out, _ = process.communicate(timeout=120)
        reader.join(timeout=10)
    finally:
        os.close(main)
    return process.returncode, out.decode(), plain(b"".join(chunks).decode(errors="replace"))


@pytest.fixture
def clip(make_clip: Callable[..., Path]) -> Path:
    return make_clip("shot.mp4", seconds=1, fps=12, width=64, height=36)


def test_a_terminal_sees_the_lines_and_stdout_keeps_only_the_result(
    clip: Path, tmp_path: Path
) -> None:
    code, out, err = run_on_a_terminal(
        ["upscale", clip, "--provider", "local"], tmp_path, terminal=True
    )

    assert code == 0, err
    assert out.splitlines() == [str(clip.with_name("shot_4k.mp4"))]
    assert "shot.mp4 1/2" in err and "shot.mp4 2/2" in err and "shot.mp4 total" in err
    assert "shot.mp4: finished, 2 of 2 segments done · billed 10 s, $0.20" in err


def test_json_on_a_terminal_draws_nothing(clip: Path, tmp_path: Path) -> None:
    code, out, err = run_on_a_terminal(
        ["upscale", clip, "--provider", "local", "--json"], tmp_path, terminal=True
    )

    assert code == 0, err
    assert json.loads(out)["results"][0]["segments"] == 2
    assert err.strip() == ""


def test_a_pipe_draws_nothing(clip: Path, tmp_path: Path) -> None:
    code, out, err = run_on_a_terminal(
        ["upscale", clip, "--provider", "local"], tmp_path, terminal=False
    )

    assert code == 0, err
    assert out.splitlines() == [str(clip.with_name("shot_4k.mp4"))]
    assert err == ""


def test_a_warning_logged_while_the_lines_are_drawn_comes_out_whole_above_them(
    jobs: list[Job],
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    root.addHandler(handler)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=WIDTH, color_system=None)
    progress = TerminalProgress(console, refresh=0.01)
    original = handler.stream
    try:
        events = [event for _, event in jobs[0].events]
        progress.uprez_job_event(event=events[0])
        logging.getLogger("uprez.test").warning("the service answers slowly")
        progress.uprez_job_event(event=events[1])
    finally:
        progress.close()
        root.removeHandler(handler)

    assert handler.stream is original  # given back once the lines are gone
    assert "the service answers slowly" in plain(out.getvalue()).splitlines()


def test_the_command_line_loads_rich_only_to_draw() -> None:
    code = "import sys, uprez.cli; print(sorted(m for m in sys.modules if 'rich' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
