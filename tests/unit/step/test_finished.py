"""The record that a segment is finished (uprez.step.finished): the one thing a rerun trusts to
skip a segment, with the journal on or off."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from uprez.errors import ServiceError, VerificationError
from uprez.journal.tasks import TaskRecord
from uprez.media.remote import Source
from uprez.media.synth import make_clip
from uprez.plugins import PluginManager
from uprez.providers import Provider, ProviderResult
from uprez.records import Artifact, JobEvent
from uprez.step.finished import load_finished, record_path, save_finished
from uprez.step.run import run_upscale
from uprez.step.segments import WORK_FOLDER

from support import TEST_BOX, fast_config

RESULT = ProviderResult(
    task_id="t-1",
    model="m",
    output_url="https://x.invalid/o",
    inference_ms=1200,
    timings={"upload_s": 0.5},
    nsfw=(False,),
)

# -- the record ---------------------------------------------------------------------------------


def test_a_saved_record_beside_its_file_reads_back(tmp_path: Path) -> None:
    up = tmp_path / "seg-000.up.mp4"
    up.write_bytes(b"video")

    save_finished(up, RESULT)

    assert record_path(up) == tmp_path / "seg-000.up.json"
    assert load_finished(up) == RESULT


@pytest.mark.parametrize("missing", ["file", "record"])
def test_without_both_the_file_and_its_record_a_segment_is_not_finished(
    tmp_path: Path, missing: str
) -> None:
    up = tmp_path / "seg-000.up.mp4"
    up.write_bytes(b"video")
    save_finished(up, RESULT)

    (up if missing == "file" else record_path(up)).unlink()

    assert load_finished(up) is None


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"task_id": "t"}', '{"nsfw": 3}'])
def test_an_unreadable_record_means_the_segment_runs_again(tmp_path: Path, text: str) -> None:
    up = tmp_path / "seg-000.up.mp4"
    up.write_bytes(b"video")
    record_path(up).write_text(text, encoding="utf-8")

    assert load_finished(up) is None


# -- what a rerun does with it ------------------------------------------------------------------


class CountingProvider(Provider):
    """Upscales into TEST_BOX, counting its runs per segment; the first run of each segment
    in ``fail`` fails, and that of each one in ``short`` lacks its last frame."""

    name = "counting"

    def __init__(self, *, fail: tuple[int, ...] = (), short: tuple[int, ...] = ()) -> None:
        self.runs: list[int] = []  # the segment of each run, in order
        self.fail, self.short = fail, short
        self._lock = threading.Lock()

    @property
    def box(self) -> tuple[int, int]:
        return TEST_BOX

    def run(
        self,
        source: Source,
        target: Path,
        *,
        emit: Callable[[JobEvent], None],
        record: TaskRecord | None = None,
    ) -> ProviderResult:
        from uprez.media.probe import probe

        segment = int(Path(source).name.split("-")[1].split(".")[0])  # seg-001.src.mp4
        with self._lock:
            first = segment not in self.runs
            self.runs.append(segment)
            task_id = f"t{len(self.runs)}-seg{segment}"
        if first and segment in self.fail:
            raise ServiceError(f"segment {segment + 1} refused")
        frames = probe(source).frames - (1 if first and segment in self.short else 0)
        make_clip(target, seconds=frames / 12, fps=12, width=TEST_BOX[0], height=TEST_BOX[1])
        return ProviderResult(task_id=task_id, model="m", output_url="https://x/o")

    def close(self) -> None:
        pass


@pytest.fixture
def no_journal(tmp_path: Path) -> dict[str, object]:
    return {
        "limits.max_duration": 0.5,  # two segments
        # The counting provider draws a pattern of its own, not the source's picture.
        "verify.content": False,
        "journal.enabled": False,
        "journal.path": str(tmp_path / "journal" / "journal.sqlite3"),
    }


def test_with_the_journal_off_a_rerun_runs_only_the_unfinished_segment(
    clip: Path, pm: PluginManager, no_journal: dict[str, object], tmp_path: Path
) -> None:
    config = fast_config(no_journal)
    provider = CountingProvider(fail=(1,))

    with pytest.raises(ServiceError, match="segment 2 refused"):
        run_upscale(Artifact(clip), config=config, pm=pm, provider=provider)
    [kept] = list((clip.parent / WORK_FOLDER).rglob("seg-*.up.json"))
    first_task = load_finished(kept.with_suffix(".mp4"))
    result = run_upscale(Artifact(clip), config=config, pm=pm, provider=provider)

    assert sorted(provider.runs) == [0, 1, 1]  # both, then only the one that failed
    segments = result.metadata["segments"]
    assert [s["reused"] for s in segments] == [True, False]
    assert first_task is not None and segments[0]["task_id"] == first_task.task_id
    assert not (tmp_path / "journal" / "journal.sqlite3").exists()  # no journal took part
    assert not kept.exists()  # the work folder went with the finished job


def test_a_segment_that_fails_its_checks_is_not_recorded_finished(
    clip: Path, pm: PluginManager, no_journal: dict[str, object]
) -> None:
    config = fast_config(no_journal)
    provider = CountingProvider(short=(0,))

    with pytest.raises(VerificationError, match="segment 1 of 2 does not match"):
        run_upscale(Artifact(clip), config=config, pm=pm, provider=provider)
    records = sorted(p.name for p in (clip.parent / WORK_FOLDER).rglob("seg-*.up.json"))
    result = run_upscale(Artifact(clip), config=config, pm=pm, provider=provider)

    assert records == ["seg-001.up.json"]  # the short one waits in the folder, unrecorded
    assert sorted(provider.runs) == [0, 0, 1]
    assert [s["reused"] for s in result.metadata["segments"]] == [False, True]
