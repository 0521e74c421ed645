"""Kill test: the CLI killed with SIGKILL at random moments, then rerun.

Every run is its own job (a fresh output folder and a fresh journal) against one local server
started in this process. The command is killed after a delay drawn from a seeded generator over
the whole length of an unkilled run, then run again to completion (once more with
``--resubmit`` if, and only if, the rerun says that is the documented way out). Every run must
end with the right output (size, frame count, audio, sidecar), nothing partial beside it, and
exactly one submission per segment, counted by the server.

The source is planned as two segments, so kills land while segments are cut and uploaded,
submitted, waited on, downloaded, and while they are merged. The short phases (upload, submit,
download) take milliseconds on loopback; ``delay`` faults on the upload PUT, the submit and the
output download stretch each by ``STRETCH`` seconds, so that random moments can land in them.
The phase a run died in is read from its journal right after the kill.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from uprez.media.probe import Probe, probe
from uprez.media.synth import make_clip
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import service_env, stats

pytestmark = pytest.mark.slow

KEY = "kill-test-key"
BOX = (128, 72)
SEGMENTS = 2
RUNS = 40
SEED = 20240611
# Seconds each upload PUT, submit and output download is held by the server in a killed run.
STRETCH = 0.12
# Phases in the order a job goes through them; "startup" is before the journal knows the job.
PHASES = ("startup", "cut/upload", "submit", "wait", "download", "merge", "finish")
STATE_PHASE = {
    "new": "cut/upload",
    "uploaded": "cut/upload",
    "submitting": "submit",
    "submitted": "wait",
    "completed": "download",
}


@dataclass
class RunReport:
    """What happened to one killed run and its reruns."""

    number: int
    delay: float
    phase: str = "?"
    states: list[str] = field(default_factory=list)
    killed: bool = True
    rerun_codes: list[int] = field(default_factory=list)
    submissions: int = 0
    problems: list[str] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A server slow enough (``speed_factor``) that the wait phase can be hit."""
    settings = ServerSettings(
        api_key=KEY, max_size=BOX, workers=4, speed_factor=0.5, account_level="silver"
    )
    with LocalServer(settings) as running:
        yield running


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Two seconds at 12 fps with sound; with ``limits.max_duration`` 1.2 s: two segments."""
    path = tmp_path / "src.mp4"
    make_clip(path, seconds=2, fps=12, width=64, height=36, audio=True)
    return path


def cli_env(base_url: str, data_dir: Path) -> dict[str, str]:
    """This process's environment without uprez settings, plus the run's own journal."""
    return service_env(
        base_url,
        key=KEY,
        box=BOX,
        UPREZ_POLLING__FIRST_INTERVAL="0.02",
        UPREZ_POLLING__MAX_INTERVAL="0.1",
        UPREZ_LIMITS__MAX_DURATION="1.2",
        XDG_DATA_HOME=str(data_dir),
    )


def command(source: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "uprez", "upscale", str(source), "-o", str(output), "--json"]


def submissions(server: LocalServer) -> int:
    return int(stats(server.base_url, KEY)["submissions"])


def stretch_short_phases(server: LocalServer) -> None:
    """Hold this run's uploads, submits and downloads for ``STRETCH`` seconds each."""
    assert server.app is not None
    server.app.faults.clear()
    server.app.faults.add(
        *(
            Fault(route, "delay", times=SEGMENTS, delay=STRETCH)
            for route in ("put_target", "submit", "output")
        )
    )


def journal_path(data_dir: Path) -> Path:
    return data_dir / "uprez" / "journal.sqlite3"


def job_state(data_dir: Path) -> tuple[str | None, list[str]]:
    """The job's status and its segments' states, from the run's journal (None: no job yet)."""
    path = journal_path(data_dir)
    if not path.exists():
        return None, []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return None, []
    try:
        job = db.execute("SELECT key, status FROM jobs").fetchone()
        if job is None:
            return None, []
        rows = db.execute(
            "SELECT state FROM segments WHERE job_key = ? ORDER BY idx", (job[0],)
        ).fetchall()
        return str(job[1]), [str(state) for (state,) in rows]
    except sqlite3.Error:  # killed before the tables existed, or caught mid-creation
        return None, []
    finally:
        db.close()


def phase_of(status: str | None, states: list[str]) -> str:
    """The phase a job was in, by its journal: the phases of its unfinished segments."""
    if status is None:
        return "startup"
    if status == "done":
        return "finish"  # the result is being moved into place and its sidecar written
    pending = {STATE_PHASE[s] for s in states if s != "downloaded"}
    if not pending:
        return "merge"
    return "+".join(sorted(pending, key=PHASES.index))


def leftovers(folder: Path) -> list[str]:
    """Partial files and work folders left in ``folder`` (hidden ones included)."""
    found = [p for p in folder.rglob("*") if p.name.endswith(".part")]
    found += [p for p in folder.rglob(".uprez-work")]
    return sorted(str(p.relative_to(folder)) for p in found)


def check_result(output: Path, expected: Probe, answer: str) -> list[str]:
    """What is wrong with a finished run's output (nothing: an empty list)."""
    problems: list[str] = []
    if not output.exists():
        return [f"no output at {output}"]
    result = probe(output)
    if (result.width, result.height) != BOX:
        problems.append(f"output is {result.width}x{result.height}, not {BOX[0]}x{BOX[1]}")
    if result.frames != expected.frames:
        problems.append(f"output has {result.frames} frames, the source {expected.frames}")
    if result.audio_streams != expected.audio_streams:
        problems.append(f"output has {result.audio_streams} audio stream(s)")
    if not Path(f"{output}.uprez.json").exists():
        problems.append("no sidecar beside the output")
    try:
        [entry] = json.loads(answer)["results"]
        if entry.get("output") != str(output):
            problems.append(f"--json names {entry.get('output')!r} as the output")
    except (ValueError, KeyError, TypeError):
        problems.append(f"--json printed no single result: {answer[-300:]!r}")
    leftover = leftovers(output.parent)
    if leftover:
        problems.append(f"left beside the output: {leftover}")
    return problems


def rerun_to_completion(
    source: Path, output: Path, env: dict[str, str], cwd: Path, report: RunReport
) -> str:
    """Run the command again; once more with ``--resubmit`` only when the rerun asks for it.

    Returns the last run's stdout.
    """
    extra: list[str] = []
    for _ in range(2):
        done = subprocess.run(
            [*command(source, output), *extra],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=120,
        )
        report.rerun_codes.append(done.returncode)
        asked = "--resubmit" in done.stdout + done.stderr
        if done.returncode == 5 and asked and not extra:
            extra = ["--resubmit"]  # the documented way out of an ambiguous submit
            continue
        if done.returncode != 0:
            report.problems.append(
                f"rerun exited {done.returncode}: {(done.stderr or done.stdout).strip()[-400:]}"
            )
        return done.stdout
    return ""


def print_table(reports: list[RunReport], duration: float, elapsed: float) -> None:
    print(f"\nkill test: {len(reports)} runs, seed {SEED}, unkilled run {duration:.2f} s")
    print(
        f"{'run':>3} {'delay':>6}  {'phase at kill':<20} {'segment states':<24} "
        f"{'reruns':<10} {'subm':>4}  problems"
    )
    for r in reports:
        phase = r.phase if r.killed else f"({r.phase} first)"
        codes = ",".join(map(str, r.rerun_codes))
        print(
            f"{r.number:>3} {r.delay:>6.3f}  {phase:<20} {','.join(r.states):<24} "
            f"{codes:<10} {r.submissions:>4}  {'; '.join(r.problems)}"
        )
    hit = sorted({p for r in reports if r.killed for p in r.phase.split("+")}, key=PHASES.index)
    counts = {p: sum(p in r.phase.split("+") for r in reports if r.killed) for p in PHASES}
    resubmits = sum(len(r.rerun_codes) > 1 for r in reports)
    print(f"phases hit: {hit}; kills per phase: {counts}")
    print(f"reruns that needed --resubmit: {resubmits}; test time {elapsed:.1f} s")


def test_sigkill_at_random_moments_then_rerun(
    server: LocalServer, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    began = time.monotonic()
    expected = probe(source)
    rng = random.Random(SEED)

    # An unkilled run, under the same conditions, sets the span the kill moments are drawn from.
    calibration = tmp_path / "calibration"
    (calibration / "out").mkdir(parents=True)
    env = cli_env(server.base_url, calibration / "data")
    output = calibration / "out" / "x_4k.mp4"
    before = submissions(server)
    stretch_short_phases(server)
    started = time.monotonic()
    done = subprocess.run(
        command(source, output),
        capture_output=True,
        text=True,
        cwd=calibration,
        env=env,
        timeout=120,
    )
    duration = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert check_result(output, expected, done.stdout) == []
    assert submissions(server) - before == SEGMENTS

    # Stratified draws: one uniform moment in each of RUNS equal slices of the run, shuffled.
    delays = [(i + rng.random()) * duration / RUNS for i in range(RUNS)]
    rng.shuffle(delays)
    reports: list[RunReport] = []
    for number, delay in enumerate(delays, start=1):
        report = RunReport(number, delay)
        reports.append(report)
        run_dir = tmp_path / f"run-{number:02d}"
        (run_dir / "out").mkdir(parents=True)
        env = cli_env(server.base_url, run_dir / "data")
        output = run_dir / "out" / "x_4k.mp4"
        before = submissions(server)
        stretch_short_phases(server)
        with (run_dir / "killed.log").open("w") as log:
            process = subprocess.Popen(
                command(source, output), stdout=log, stderr=log, cwd=run_dir, env=env
            )
            try:
                process.wait(timeout=delay)
                report.killed = False
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()  # reaped: its pid no longer counts as a live submitter
        # Let requests the server was holding for the dead client finish, as they would.
        time.sleep(STRETCH + 0.1)
        assert server.app is not None
        server.app.faults.clear()
        status, report.states = job_state(run_dir / "data")
        report.phase = phase_of(status, report.states)
        if not report.killed:
            report.phase = f"exited {process.returncode}"
            if process.returncode != 0:
                report.problems.append(f"the unkilled run exited {process.returncode}")
        answer = rerun_to_completion(source, output, env, run_dir, report)
        report.problems += check_result(output, expected, answer)
        report.submissions = submissions(server) - before
        if report.submissions != SEGMENTS:
            report.problems.append(f"{report.submissions} submissions for {SEGMENTS} segments")

    with capsys.disabled():
        print_table(reports, duration, time.monotonic() - began)
    killed = [r for r in reports if r.killed]
    phases = {p for r in killed for p in r.phase.split("+")} - {"startup"}
    failed = [f"run {r.number} ({r.phase}): {'; '.join(r.problems)}" for r in reports if r.problems]
    assert len(killed) >= 30, f"only {len(killed)} runs were killed before they ended"
    assert len(phases) >= 3, f"kills landed only in {sorted(phases)}"
    assert not failed, "\n".join(failed)


STATE_RANK = {
    "new": 0,
    "uploaded": 1,
    "submitting": 2,
    "submitted": 3,
    "completed": 4,
    "downloaded": 5,
}


def reached(trigger: str, status: str | None, states: list[str]) -> bool:
    """Whether the journal shows the job at ``trigger`` (or beyond)."""
    if trigger == "done":
        return status == "done"
    if status is None or not states:
        return False
    ranks = [STATE_RANK[s] for s in states]
    if trigger == "downloaded":  # every segment is on disk: they are being merged
        return min(ranks) >= STATE_RANK["downloaded"]
    return max(ranks) >= STATE_RANK[trigger]


@pytest.mark.parametrize(
    "trigger", ["uploaded", "submitting", "submitted", "completed", "downloaded", "done"]
)
def test_sigkill_as_the_journal_reaches_a_step(
    server: LocalServer, source: Path, tmp_path: Path, trigger: str
) -> None:
    """Killed the moment the journal shows a step (watched from outside, every millisecond):
    the rerun must still hand over a complete result, sidecar included, leave nothing behind
    and submit each segment once. ``done`` is the last step: the job is recorded done, then the
    result is moved into place, its sidecar written and the work folder removed."""
    expected = probe(source)
    data_dir = tmp_path / "data"
    (tmp_path / "out").mkdir()
    env = cli_env(server.base_url, data_dir)
    output = tmp_path / "out" / "x_4k.mp4"
    before = submissions(server)
    stretch_short_phases(server)
    seen: tuple[str | None, list[str]] = (None, [])
    process = subprocess.Popen(
        command(source, output),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            seen = job_state(data_dir)
            if reached(trigger, *seen):
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    time.sleep(STRETCH + 0.1)
    assert server.app is not None
    server.app.faults.clear()
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    what = f"killed at job {seen[0]}, segments {seen[1]}, leaving {left}"

    report = RunReport(0, 0.0)
    answer = rerun_to_completion(source, output, env, tmp_path, report)
    problems = report.problems + check_result(output, expected, answer)
    assert not problems, what + ":\n" + "\n".join(problems)
    assert submissions(server) - before == SEGMENTS, what
