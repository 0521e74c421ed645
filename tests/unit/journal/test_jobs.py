"""A job's view of the journal (uprez.journal.jobs): opening the journal from the config, the
job's record and keys, and what a finished job tells a rerun."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from uprez.billing import PriceRule
from uprez.config import Config, load_config
from uprez.journal.jobs import JobLog, content_hash, finished_before, open_job, open_journal
from uprez.journal.keys import file_hash
from uprez.journal.store import Journal, default_path
from uprez.media.probe import probe
from uprez.step.plan import Plan, plan_segments
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY

MODEL = "runwayml/upscale-v1"


def config_for(journal: Path, *, enabled: bool = True) -> Config:
    return load_config(env={}, overrides={"journal.path": str(journal), "journal.enabled": enabled})


def plan_of(clip: Path, max_seconds: float = 40.0) -> Plan:
    info = probe(clip)
    return plan_segments(
        frames=info.frames,
        fps=info.fps,
        keyframes=[0],
        max_seconds=max_seconds,
        rule=PriceRule(),
        duration=info.duration,
    )


def service(base_url: str = "http://127.0.0.1:9") -> WaveSpeedProvider:
    """A real provider (nothing is sent: the journal only asks which service it talks to)."""
    return WaveSpeedProvider.from_config(load_config(env={}), base_url=base_url, api_key=SECRET_KEY)


@pytest.fixture
def provider() -> Iterator[WaveSpeedProvider]:
    made = service()
    yield made
    made.close()


@pytest.fixture
def source(make_clip: Callable[..., Path]) -> Path:
    """A 1 s, 12 fps clip (12 frames)."""
    return make_clip("shot.mp4", seconds=1, fps=12, audio=False).resolve()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(tmp_path / "journal.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def job(journal: Journal, provider: WaveSpeedProvider) -> Callable[..., JobLog]:
    """``job(source, target, plan=whole, model=MODEL, inputs={}, provider=provider)``."""

    def start(source: Path, target: Path, **options: Any) -> JobLog:
        return open_job(
            journal,
            source=source,
            target=target,
            plan=options.get("plan") or plan_of(source),
            service=options.get("provider", provider).identity,
            model=options.get("model", MODEL),
            inputs=options.get("inputs", {}),
        )

    return start


# -- opening the journal --------------------------------------------------------------------------


def test_open_journal_is_none_when_the_journal_is_off(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"

    assert open_journal(config_for(path, enabled=False)) is None
    assert not path.exists()


def test_open_journal_opens_the_configured_path(tmp_path: Path) -> None:
    path = tmp_path / "here" / "j.sqlite3"

    journal = open_journal(config_for(path))

    assert journal is not None
    try:
        assert journal.path == path
        assert path.is_file()
    finally:
        journal.close()


def test_open_journal_expands_a_home_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    journal = open_journal(load_config(env={}, overrides={"journal.path": "~/j/j.sqlite3"}))

    assert journal is not None
    try:
        assert (tmp_path / "j" / "j.sqlite3").is_file()
    finally:
        journal.close()


def test_open_journal_without_a_path_uses_the_default_place() -> None:
    journal = open_journal(load_config(env={}))

    assert journal is not None
    try:
        assert journal.path == default_path()
        assert default_path().is_file()
    finally:
        journal.close()


def test_open_journal_reads_a_toml_config(tmp_path: Path) -> None:
    path = tmp_path / "from-toml.sqlite3"
    file = tmp_path / "uprez.toml"
    file.write_text(f'[journal]\npath = "{path}"\nenabled = true\n')

    journal = open_journal(load_config(file, env={}))

    assert journal is not None
    try:
        assert journal.path == path and path.is_file()
    finally:
        journal.close()


# -- the job's record -----------------------------------------------------------------------------


def test_a_new_job_gets_a_record_with_one_segment_per_planned_part(
    journal: Journal, job: Callable[..., JobLog], source: Path
) -> None:
    plan = plan_of(source, max_seconds=0.5)
    assert len(plan.segments) == 2
    target = source.with_name("out.mp4")

    log = job(source, target, plan=plan)

    record = journal.job(log.key)
    assert (log.status, log.earlier_output) == ("new", None)
    assert record is not None
    assert record["status"] == "running"
    assert record["source_hash"] == file_hash(source)
    assert record["output"] == str(target)
    assert journal.task_ids(log.key) == [None, None]


def test_the_same_work_asked_again_finds_the_same_record(
    journal: Journal, job: Callable[..., JobLog], source: Path
) -> None:
    target = source.with_name("out.mp4")

    first = job(source, target, inputs={"x": 1})
    again = job(source, target, inputs={"x": 1})

    assert (first.status, again.status) == ("new", "running")
    assert again.key == first.key
    assert len(journal.recent()) == 1


def test_a_copy_of_the_source_under_another_name_is_the_same_job(
    job: Callable[..., JobLog], source: Path
) -> None:
    copy = source.with_name("renamed.mp4")
    shutil.copyfile(source, copy)

    one = job(source, source.with_name("a.mp4"))
    two = job(copy, copy.with_name("b.mp4"))

    assert two.key == one.key
    assert two.status == "running"


@pytest.mark.parametrize("what", ["model", "inputs", "plan", "service"])
def test_another_model_inputs_plan_or_service_is_another_job(
    job: Callable[..., JobLog], source: Path, what: str
) -> None:
    target = source.with_name("out.mp4")
    base = job(source, target)
    other_service = service("http://127.0.0.1:10")
    try:
        changed = job(
            source,
            target,
            plan=plan_of(source, max_seconds=0.5) if what == "plan" else None,
            **({"provider": other_service} if what == "service" else {}),
            **({"model": "other/model"} if what == "model" else {}),
            **({"inputs": {"level": 4}} if what == "inputs" else {}),
        )
    finally:
        other_service.close()

    assert changed.key != base.key
    assert changed.status == "new"


def test_job_log_done_and_failed_close_the_record(
    journal: Journal, job: Callable[..., JobLog], source: Path, make_clip: Callable[..., Path]
) -> None:
    other = make_clip("other.mp4", seconds=0.5, fps=12, audio=False).resolve()
    ok = job(source, source.with_name("a.mp4"))
    bad = job(other, other.with_name("b.mp4"))

    ok.done("0.10")
    bad.failed("x" * 2000)

    done, failed = journal.job(ok.key), journal.job(bad.key)
    assert done is not None and (done["status"], done["cost"]) == ("done", "0.10")
    assert failed is not None and failed["status"] == "failed"
    assert failed["error"] == "x" * 500  # kept short


def test_job_log_records_are_one_per_segment_bound_to_the_job(
    journal: Journal, job: Callable[..., JobLog], source: Path
) -> None:
    log = job(source, source.with_name("a.mp4"), plan=plan_of(source, max_seconds=0.5))

    records = log.records(2, resubmit=True)
    records[1].submitted("t-1")

    assert [(r.job_key, r.index, r.resubmit) for r in records] == [
        (log.key, 0, True),
        (log.key, 1, True),
    ]
    assert journal.task_ids(log.key) == [None, "t-1"]
    assert not log.records(1, resubmit=False)[0].resubmit


def test_a_failed_job_reopened_keeps_its_segments_records(
    job: Callable[..., JobLog], source: Path
) -> None:
    plan = plan_of(source, max_seconds=0.5)
    target = source.with_name("a.mp4")
    first = job(source, target, plan=plan)
    first.records(2, resubmit=False)[0].submitted("t-0")
    first.failed("segment 2 failed")

    rerun = job(source, target, plan=plan)

    assert (rerun.key, rerun.status, rerun.earlier_output) == (first.key, "failed", None)
    assert rerun.records(2, resubmit=False)[0].row().task_id == "t-0"


def test_the_same_work_done_under_another_path_names_the_earlier_output(
    job: Callable[..., JobLog], source: Path
) -> None:
    first_target = source.with_name("first_4k.mp4")
    job(source, first_target).done("0.10")

    same_place = job(source, first_target)
    elsewhere = job(source, source.with_name("second_4k.mp4"))

    assert (same_place.status, same_place.earlier_output) == ("done", None)
    assert (elsewhere.status, elsewhere.earlier_output) == ("done", first_target)


def test_an_unfinished_job_under_another_path_names_no_earlier_output(
    job: Callable[..., JobLog], source: Path
) -> None:
    job(source, source.with_name("first.mp4"))

    elsewhere = job(source, source.with_name("second.mp4"))

    assert (elsewhere.status, elsewhere.earlier_output) == ("running", None)


def test_content_hash_of_a_file_is_its_file_hash(source: Path) -> None:
    assert content_hash(source) == file_hash(source)


# -- finished before ------------------------------------------------------------------------------


@pytest.fixture
def finished(tmp_path: Path, source: Path, provider: WaveSpeedProvider) -> tuple[Config, Path, str]:
    """A done job of ``source`` into ``shot_4k.mp4`` (which exists), in the config's journal;
    returns the config, the target and the job's key."""
    config = config_for(tmp_path / "journal.sqlite3")
    target = source.with_name("shot_4k.mp4")
    target.write_bytes(b"the result")
    journal = open_journal(config)
    assert journal is not None
    try:
        log = open_job(
            journal,
            source=source,
            target=target,
            plan=plan_of(source, max_seconds=0.5),
            service=provider.identity,
            model=MODEL,
            inputs={},
        )
        for number, record in enumerate(log.records(2, resubmit=False)):
            record.submitted(f"t-{number}")
        log.done("0.20")
    finally:
        journal.close()
    return config, target, log.key


def test_finished_before_finds_the_done_job_with_its_task_ids(
    finished: tuple[Config, Path, str], source: Path
) -> None:
    config, target, key = finished

    record = finished_before(config, source, target)

    assert record is not None
    assert (record["key"], record["status"], record["cost"]) == (key, "done", "0.20")
    assert record["task_ids"] == ["t-0", "t-1"]


def test_finished_before_is_none_when_the_output_is_gone(
    finished: tuple[Config, Path, str], source: Path
) -> None:
    config, target, _ = finished
    target.unlink()

    assert finished_before(config, source, target) is None


def test_finished_before_is_none_when_the_source_changed_since(
    finished: tuple[Config, Path, str], source: Path, make_clip: Callable[..., Path]
) -> None:
    config, target, _ = finished
    make_clip(source.name, seconds=1, fps=12, audio=True)  # a new render at the same path

    assert finished_before(config, source, target) is None


def test_finished_before_is_none_for_another_output_path(
    finished: tuple[Config, Path, str], source: Path
) -> None:
    config, target, _ = finished
    other = target.with_name("copy_4k.mp4")
    shutil.copyfile(target, other)

    assert finished_before(config, source, other) is None


def test_finished_before_is_none_with_the_journal_off(
    finished: tuple[Config, Path, str], source: Path, tmp_path: Path
) -> None:
    _, target, _ = finished

    off = config_for(tmp_path / "journal.sqlite3", enabled=False)

    assert finished_before(off, source, target) is None


def test_finished_before_ignores_a_job_that_failed(
    tmp_path: Path, source: Path, provider: WaveSpeedProvider
) -> None:
    config = config_for(tmp_path / "journal.sqlite3")
    target = source.with_name("shot_4k.mp4")
    target.write_bytes(b"a partial result from elsewhere")
    journal = open_journal(config)
    assert journal is not None
    try:
        log = open_job(
            journal,
            source=source,
            target=target,
            plan=plan_of(source),
            service=provider.identity,
            model=MODEL,
            inputs={},
        )
        log.failed("the service refused")
    finally:
        journal.close()

    assert finished_before(config, source, target) is None
