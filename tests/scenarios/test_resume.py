"""Rerunning after a failure: the journal reuses finished work and never submits a segment twice.

Every test runs a real job against the real local server, makes it fail the way the service can,
then runs the very same job again and counts, on the server, what the rerun uploaded and submitted.
Each test has its own journal (its own XDG_DATA_HOME, from conftest).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from uprez.errors import AmbiguousSubmit, JobTimeout, ServiceError, TaskFailed, TransferError
from uprez.journal.store import Journal, default_path
from uprez.media.probe import probe
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.step.estimate import estimate
from uprez.step.run import run_upscale
from uprez.step.sidecar import sidecar_path
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, TEST_BOX, Service, fast_config, service_env, stats

E = TypeVar("E", bound=ServiceError)

# -- the service, as the tests see it --------------------------------------------------------------


def upscale(
    clip: Path,
    service: Service,
    pm: PluginManager,
    overrides: dict[str, object] | None = None,
    **options: Any,
) -> Artifact:
    """Run the step on ``clip`` against the shared server, as a host would (a fresh provider)."""
    config = fast_config(overrides)
    provider = WaveSpeedProvider.from_config(config, base_url=service.base_url, api_key=SECRET_KEY)
    try:
        return run_upscale(Artifact(clip), config=config, pm=pm, provider=provider, **options)
    finally:
        provider.close()


def fails(kind: type[E], clip: Path, service: Service, pm: PluginManager, **kw: Any) -> E:
    """Run the step, which must raise ``kind``; return the error."""
    with pytest.raises(kind) as caught:
        upscale(clip, service, pm, **kw)
    assert SECRET_KEY not in str(caught.value)
    return caught.value


def assert_correct(result: Artifact, clip: Path) -> None:
    source, output = probe(clip), probe(result.path)
    assert (output.width, output.height) == TEST_BOX
    assert output.frames == source.frames


# -- (a) a failed segment task ---------------------------------------------------------------------


def test_after_a_failed_segment_task_a_rerun_submits_only_that_segment_again(
    make_clip: Callable[..., Path], service: Service, pm: PluginManager
) -> None:
    clip = make_clip("long.mp4", seconds=1.5, fps=12, width=64, height=36, audio=True)
    overrides: dict[str, object] = {"limits.max_duration": 0.5}
    count = len(estimate(clip, fast_config(overrides)).plan.segments)
    assert count >= 3
    service.inject(Fault("submit", "task_fail", code=1403))

    error = fails(TaskFailed, clip, service, pm, overrides=overrides)

    assert error.code == 1403
    assert error.task_id and error.task_id in str(error)
    assert f"of {count}" in str(error)  # it names the segment
    assert service.spent() == (count, count)  # the other segments went on and finished
    assert not (clip.parent / "long_4k.mp4").exists()

    service.reset()
    result = upscale(clip, service, pm, overrides)

    assert service.spent() == (0, 1)  # only the failed segment, from its earlier upload
    assert_correct(result, clip)
    segments = result.metadata["segments"]
    assert len(segments) == count
    fresh = [s for s in segments if not s["reused"]]
    assert len(fresh) == 1
    assert fresh[0]["task_id"] != error.task_id
    assert error.task_id not in {s["task_id"] for s in segments}


# -- (b) a job timeout -----------------------------------------------------------------------------


def test_after_a_job_timeout_a_rerun_keeps_waiting_on_the_same_task(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("prediction", "task_status", times=-1, task_status="processing"))

    error = fails(JobTimeout, clip, service, pm, overrides={"polling.deadline": 0.5})

    assert error.task_id and error.task_id in str(error)
    assert service.spent() == (1, 1)
    service.clear()
    service.reset()

    result = upscale(clip, service, pm)

    assert service.spent() == (0, 0)  # no upload, no submission: the journal knew the task
    assert result.metadata["task_id"] == error.task_id
    assert_correct(result, clip)


# -- (c) a download failure ------------------------------------------------------------------------


def test_after_a_download_failure_a_rerun_downloads_without_uploading_or_submitting(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("output", "http", status=500, times=-1))

    error = fails(TransferError, clip, service, pm)

    assert error.task_id and error.task_id in str(error)
    assert "rerun" in str(error)
    assert service.spent() == (1, 1)
    assert sorted(p.name for p in clip.parent.iterdir()) == [clip.name]  # nothing partial
    service.clear()
    service.reset()

    result = upscale(clip, service, pm)

    assert service.spent() == (0, 0)
    assert result.metadata["task_id"] == error.task_id
    assert_correct(result, clip)


# -- (d) a lost submit that cannot be found --------------------------------------------------------


def test_a_lost_submit_not_listed_a_lease_after_it_is_submitted_again_once(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    # Dropped before the handler: no task exists, so the lookup cannot find one.
    service.inject(Fault("submit", "drop"))

    first = fails(AmbiguousSubmit, clip, service, pm)

    assert "--resubmit" in str(first)
    assert service.spent() == (1, 0)
    # The journal keeps the claim: "submitting", no task id, so no rerun sends blindly.
    journal = Journal(default_path())
    try:
        [job] = journal.recent()
        [charge] = journal.charges()
    finally:
        journal.close()
    assert job["status"] == "failed"
    assert job["segments"] == [{"index": 0, "state": "submitting", "task_id": None}]
    assert charge.state == "submitting"  # counted against budgets until shown unmade
    service.reset()

    # The rerun looks; the listing answers, and still shows no task once the lost claim is a
    # lease old (time enough for a made task to be listed): none was made, so it submits.
    started = time.monotonic()
    result = upscale(clip, service, pm, {"journal.lease_seconds": 1.5})

    assert time.monotonic() - started >= 1.0  # it waited for the claim to be a lease old
    assert service.spent() == (0, 1)  # exactly one submission, from the same upload
    assert_correct(result, clip)
    journal = Journal(default_path())
    try:
        states = sorted(c.state for c in journal.charges())
    finally:
        journal.close()
    assert states == ["refunded", "submitted"]  # the lost attempt costs nothing


# -- a submit answered after the read timeout ------------------------------------------------------


def test_a_submit_answered_after_the_read_timeout_is_found_by_the_rerun_not_sent_again(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    # The server sleeps before it creates the task: the client gives up first, looks, finds
    # nothing yet; the task appears a moment later. A rerun must find it by its input URL.
    overrides: dict[str, object] = {"provider.read_timeout": 0.3}
    service.inject(Fault("submit", "delay", delay=1.0))
    try:
        result: Artifact | None = upscale(clip, service, pm, overrides)
    except AmbiguousSubmit:
        result = None
    deadline = time.monotonic() + 10
    while service.spent()[1] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.spent() == (1, 1)

    if result is None:
        result = upscale(clip, service, pm, overrides)

    assert service.spent() == (1, 1)  # still one task, in all
    assert_correct(result, clip)


# -- (e) two processes on the same file ------------------------------------------------------------


def cli_env(base_url: str) -> dict[str, str]:
    """The caller's environment (its XDG_DATA_HOME: one shared journal) aimed at ``base_url``."""
    return service_env(
        base_url,
        UPREZ_POLLING__FIRST_INTERVAL="0.01",
        UPREZ_POLLING__MAX_INTERVAL="0.01",
        UPREZ_POLLING__JITTER="0",
    )


def test_two_processes_on_the_same_file_at_once_submit_one_task(clip: Path, tmp_path: Path) -> None:
    # The task takes a second (speed_factor 1.0), so both processes are there while it runs;
    # both poll every 10 ms, as two farm workers on one shot would, so they see it end together.
    settings = ServerSettings(
        api_key=SECRET_KEY, max_size=TEST_BOX, workers=2, speed_factor=1.0, account_level="silver"
    )
    out = tmp_path / "out.mp4"
    with LocalServer(settings) as server:
        env = cli_env(server.base_url)
        command = [sys.executable, "-m", "uprez", "upscale", str(clip), "-o", str(out), "--json"]
        runs = [
            subprocess.Popen(
                command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        answers = [run.communicate(timeout=120) for run in runs]
        counted = stats(server.base_url, SECRET_KEY)

    codes = [run.returncode for run in runs]
    report = "\n".join(
        f"exit {c}:\n{o.decode()}\n{e.decode()[-2000:]}"
        for c, (o, e) in zip(codes, answers, strict=True)
    )
    assert counted["submissions"] == 1, report
    assert codes == [0, 0], report
    results = [json.loads(o)["results"][0] for o, _ in answers]
    assert {r["output"] for r in results} == {str(out)}
    assert len({r["task_id"] for r in results}) == 1
    assert probe(out).frames == probe(clip).frames
    assert (probe(out).width, probe(out).height) == TEST_BOX
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [clip.name, out.name, sidecar_path(out).name]
    ), report


# -- (f) and (g) after success ---------------------------------------------------------------------


def test_a_rerun_after_success_hands_back_the_result_at_no_cost(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    first = upscale(clip, service, pm)
    made = first.path.read_bytes()
    service.reset()

    again = upscale(clip, service, pm)

    assert service.spent() == (0, 0)
    assert again.path == first.path
    assert again.path.read_bytes() == made
    assert again.metadata["task_id"] == first.metadata["task_id"]


def test_uprez_jobs_lists_the_finished_job_with_its_cost_output_and_task(
    clip: Path, service: Service, pm: PluginManager, tmp_path: Path
) -> None:
    result = upscale(clip, service, pm)

    listed = subprocess.run(
        [sys.executable, "-m", "uprez", "jobs", "--json"],
        capture_output=True,
        text=True,
        env=cli_env(service.base_url),
        cwd=tmp_path,
        timeout=60,
    )

    assert listed.returncode == 0, listed.stderr
    assert SECRET_KEY not in listed.stdout + listed.stderr
    [job] = json.loads(listed.stdout)["jobs"]
    assert job["status"] == "done"
    assert job["cost"] == "0.10"
    assert job["output"] == str(result.path.resolve())
    assert job["source"] == str(clip.resolve())
    assert [s["task_id"] for s in job["segments"]] == [result.metadata["task_id"]]
