"""Polling that waits for a task's likely end: the poller's decisions, what is learned, and a
second job against the real local server asking far less often than the first."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from uprez.config import load_config
from uprez.journal.store import Journal
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.wavespeed.eta import Estimate, TaskTimes, Work, work_of
from uprez.wavespeed.polling import Poller, PollSchedule

from support import TEST_BOX, TEST_KEY

STEADY = PollSchedule(first=0.25, factor=2.0, max=5.0, jitter=0.0)


def test_without_an_estimate_the_first_poll_is_at_once_then_the_schedule() -> None:
    poller = Poller(STEADY)

    waits = [poller.next_wait(0.0, None)] + [poller.next_wait(0.0, "processing") for _ in range(4)]

    assert waits == [0.0, 0.25, 0.5, 1.0, 2.0]
    assert poller.polls == 4


def test_with_an_estimate_the_first_poll_waits_until_just_after_the_earliest_end() -> None:
    poller = Poller(STEADY, Estimate(expected=3.0, earliest=2.0), start=10.0)

    first = poller.next_wait(10.0, None)

    # tolerance is max(0.5 s, 5% of 3 s) = 0.5 s; the first poll goes a fifth of it late
    assert first == pytest.approx(2.1)


def test_a_long_wait_is_broken_into_checkpoints_no_longer_than_max_interval() -> None:
    poller = Poller(STEADY, Estimate(expected=300.0, earliest=290.0), start=0.0)

    target = 290.0 + 0.2 * 5.0  # the earliest end, plus a fifth of a step (max_interval here)
    now, waits = 0.0, []
    status: str | None = None
    while now < target - 1e-9:
        wait = poller.next_wait(now, status)
        waits.append(wait)
        now += wait
        status = "processing"

    assert max(waits) == 5.0
    assert now == pytest.approx(target)  # the last wait is shortened to land on it
    # the SDK's fixed 1 s polling would ask ~290 times by then
    assert len(waits) == 59


def test_past_the_earliest_end_polls_come_at_the_tolerance() -> None:
    poller = Poller(STEADY, Estimate(expected=40.0, earliest=30.0), start=0.0)

    assert poller.next_wait(31.0, "processing") == pytest.approx(2.0)  # 5% of 40 s
    short = Poller(STEADY, Estimate(expected=2.0, earliest=2.0), start=0.0)
    assert short.next_wait(2.2, "processing") == pytest.approx(0.5)  # never under 0.5 s


def test_a_queued_task_moves_the_expected_end_on() -> None:
    poller = Poller(STEADY, Estimate(expected=2.0, earliest=2.0), start=0.0)
    poller.next_wait(0.0, None)

    wait = poller.next_wait(2.1, "created")  # still queued at 2.1 s: it has not even begun

    assert wait == pytest.approx(2.1)


def test_checkpoint_jitter_never_exceeds_max_interval() -> None:
    schedule = PollSchedule(first=0.25, factor=1.5, max=5.0, jitter=0.5)
    poller = Poller(schedule, Estimate(expected=600, earliest=600), rng=random.Random(7))

    waits = [poller.next_wait(float(i), "processing") for i in range(200)]

    assert max(waits) <= 5.0
    assert min(waits) < 4.0  # the jitter spreads checkpoints of many clients


def test_service_seconds_trusts_the_services_timing_when_plausible() -> None:
    poller = Poller(STEADY, start=100.0)
    poller.next_wait(101.0, "processing")  # still running 1 s after the submit

    assert poller.service_seconds(103.0, inference_ms=1800) == pytest.approx(1.8)
    # a timing longer than the task was watched is not plausible: the polls' bracket instead
    assert poller.service_seconds(103.0, inference_ms=9000) == pytest.approx(2.0)
    assert poller.service_seconds(103.0, inference_ms=None) == pytest.approx(2.0)


def test_no_history_gives_no_estimate() -> None:
    assert TaskTimes().estimate("svc", Work("seconds", 10.0)) is None


def test_the_estimate_scales_recent_rates_by_the_work() -> None:
    times = TaskTimes()
    for seconds in (2.0, 3.0, 4.0):  # three 2-second videos
        times.learn("svc", Work("seconds", 2.0), seconds)

    estimate = times.estimate("svc", Work("seconds", 10.0))

    assert estimate == Estimate(expected=15.0, earliest=10.0)
    assert times.estimate("other service", Work("seconds", 10.0)) is None
    assert times.estimate("svc", Work("bytes", 10.0)) is None


def test_rates_outlive_the_process_in_the_journal(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        TaskTimes().learn("svc", Work("seconds", 4.0), 2.0, journal)

        later = TaskTimes().estimate("svc", Work("seconds", 8.0), journal)
    finally:
        journal.close()

    assert later == Estimate(expected=4.0, earliest=4.0)


def test_the_journal_keeps_only_the_latest_hundred_rates(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        for i in range(130):
            journal.add_task_rate("svc", "seconds", float(i + 1))
        rates = journal.task_rates("svc", "seconds", 1000)
    finally:
        journal.close()

    assert len(rates) == 100
    assert rates[-1] == 130.0


def test_work_is_video_seconds_for_a_video_and_bytes_otherwise(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    clip = make_clip("two.mp4", seconds=2, fps=12, width=64, height=36)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"x" * 1234)

    assert work_of(clip) == Work("seconds", pytest.approx(2.0, abs=0.1))
    assert work_of(junk) == Work("bytes", 1234.0)


def test_a_second_job_asks_far_less_often_than_the_first(make_clip: Callable[..., Path]) -> None:
    from uprez.wavespeed.provider import WaveSpeedProvider

    clip = make_clip("shot.mp4", seconds=1, fps=12, width=64, height=36)
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=TEST_BOX, workers=2, task_seconds=1.5, account_level="silver"
    )
    config = load_config(
        env={},
        overrides={"polling.first_interval": 0.1, "polling.factor": 1.5, "polling.jitter": 0},
    )
    with LocalServer(settings) as server:
        provider = WaveSpeedProvider.from_config(config, base_url=server.base_url, api_key=TEST_KEY)
        try:
            results = [
                provider.run(clip, clip.with_name(f"out{i}.mp4"), emit=lambda event: None)
                for i in range(2)
            ]
        finally:
            provider.close()
        assert server.app is not None
        polls = [server.app.predictions.get(r.task_id, 0).polls for r in results]  # type: ignore[union-attr]

    # the first job knows nothing and polls at 0, 0.1, 0.25, 0.48, 0.8, 1.3, 2.0 s...
    assert polls[0] >= 5
    # the second sleeps until the end the first one showed, and asks once or twice
    assert polls[1] <= 2


def test_a_poller_without_history_adopts_an_estimate_as_soon_as_one_exists() -> None:
    times = TaskTimes()
    work = Work("seconds", 10.0)
    poller = Poller(STEADY, start=0.0, lookup=lambda: times.estimate("svc", work))

    assert poller.next_wait(0.0, None) == 0.0  # nothing known: ask at once, then the schedule
    assert poller.next_wait(0.1, "processing") == 0.25
    times.learn("svc", Work("seconds", 10.0), 10.0)  # a sibling segment just finished in 10 s

    assert poller.next_wait(9.0, "processing") == pytest.approx(10.0 + 0.1 - 9.0)


def test_a_tasks_first_poll_is_counted_from_its_submit_not_from_after_the_source_is_probed(
    make_clip: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from uprez.wavespeed import provider as provider_module

    clip = make_clip("shot.mp4", seconds=1, fps=12, width=64, height=36)
    probed_at: list[float] = []

    def slow_probe(source: Path) -> Work:  # a source FFmpeg must search far into
        probed_at.append(time.monotonic())
        time.sleep(0.3)
        return work_of(source)

    monkeypatch.setattr(provider_module, "work_of", slow_probe)
    settings = ServerSettings(api_key=TEST_KEY, max_size=TEST_BOX, task_seconds=0.5)
    with LocalServer(settings) as server:
        provider = provider_module.WaveSpeedProvider.from_config(
            load_config(env={}), base_url=server.base_url, api_key=TEST_KEY
        )
        try:
            provider.times.learn(provider._service, Work("seconds", 1.0), 0.5)
            _, poller, _ = provider._task_for(clip, None, time.monotonic() + 60, lambda e: None)
        finally:
            provider.close()

    assert poller.start <= probed_at[0]
    # the first poll goes just after the task's earliest end from its submit (0.5 s), not 0.3 s
    # of probing later
    assert poller.next_wait(probed_at[0] + 0.3, None) < 0.5 - 0.3 + 0.2
