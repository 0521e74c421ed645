"""Every downloaded segment is verified before it is kept: frames and frame rate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from uprez.errors import VerificationError
from uprez.journal.tasks import TaskRecord
from uprez.media.remote import Source
from uprez.media.synth import make_clip
from uprez.plugins import PluginManager
from uprez.providers import Provider, ProviderResult
from uprez.records import Artifact, JobEvent
from uprez.step.run import run_upscale

from support import fast_config


class ShortProvider(Provider):
    """A provider (as a third party could write one) whose results lack their last frame."""

    name = "short"

    def run(
        self,
        source: Source,
        target: Path,
        *,
        emit: Callable[[JobEvent], None],
        record: TaskRecord | None = None,
    ) -> ProviderResult:
        from uprez.media.probe import probe

        info = probe(source)
        make_clip(target, seconds=(info.frames - 1) / 12, fps=12, width=256, height=144)
        return ProviderResult(task_id="short-1", model="short", output_url="https://x.invalid/o")

    def close(self) -> None:
        pass


def test_a_segment_with_missing_frames_is_an_error_naming_it(clip: Path, pm: PluginManager) -> None:
    config = fast_config({"limits.max_duration": 0.5})

    with pytest.raises(VerificationError, match=r"segment \d of 2 does not match its source"):
        run_upscale(Artifact(clip), config=config, pm=pm, provider=ShortProvider())

    assert not (clip.parent / "shot_4k.mp4").exists()


def test_with_warn_the_segment_is_kept_and_the_mismatch_logged(
    clip: Path, pm: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    config = fast_config({"limits.max_duration": 0.5, "verify.on_mismatch": "warn"})

    with caplog.at_level(logging.WARNING):
        result = run_upscale(Artifact(clip), config=config, pm=pm, provider=ShortProvider())

    assert "frames, expected" in caplog.text
    assert result.metadata["verification"]["ok"] is False
