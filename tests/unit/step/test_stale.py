"""An existing output that is uprez's result of an older version of the same source is replaced
without ``--overwrite`` (:mod:`uprez.step.stale`); any other existing output stays refused.

End to end through the step against the local server, and the rule's edges on the files a first
run left (the journal's hash against size and time, a sidecar that no longer describes its
output, a relative source path).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from uprez.errors import InputError
from uprez.media.probe import probe
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.step.output import place
from uprez.step.run import run_upscale
from uprez.step.sidecar import sidecar_path
from uprez.step.stale import older_version
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, Service, fast_config

NO_JOURNAL: dict[str, object] = {"journal.enabled": False}


def upscale(
    source: Path,
    service: Service,
    pm: PluginManager,
    overrides: dict[str, object] | None = None,
    **options: Any,
) -> Artifact:
    config = fast_config(overrides)
    provider = WaveSpeedProvider.from_config(config, base_url=service.base_url, api_key=SECRET_KEY)
    try:
        return run_upscale(Artifact(source), config=config, pm=pm, provider=provider, **options)
    finally:
        provider.close()


def sidecar_of(output: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(sidecar_path(output).read_text(encoding="utf-8"))
    return record


def back_in_time(path: Path, seconds: float = 60) -> None:
    """Make ``path`` look written ``seconds`` before its output was."""
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns - int(seconds * 1e9)))


def flip_a_byte(path: Path) -> None:
    """Change the content, not the size (the rule reads hashes and sizes, not pictures)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("overrides", [{}, NO_JOURNAL], ids=["journal", "no journal"])
def test_a_result_of_an_older_version_of_the_source_is_replaced(
    overrides: dict[str, object],
    make_clip: Callable[..., Path],
    service: Service,
    pm: PluginManager,
) -> None:
    source = make_clip("shot.mp4", seconds=1, fps=12)
    first = upscale(source, service, pm, overrides)
    old_tasks = service.spent()
    # The source is rendered again to the same path: longer now.
    make_clip("shot.mp4", seconds=2, fps=12)

    # choose_output (what the CLI checks before spending) accepts it, and the run replaces it.
    assert place(Artifact(source), fast_config(overrides), pm).target == first.path
    again = upscale(source, service, pm, overrides)

    assert again.path == first.path
    assert probe(again.path).frames == 24
    record = sidecar_of(again.path)
    assert record["source"]["size_bytes"] == source.stat().st_size
    assert record["output"]["size_bytes"] == again.path.stat().st_size
    assert service.spent() > old_tasks


def test_an_unchanged_source_gets_its_result_back_and_a_rerun_spends_nothing(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    first = upscale(clip, service, pm)
    spent = service.spent()
    made = first.path.stat().st_mtime_ns

    again = upscale(clip, service, pm)

    assert again.path == first.path
    assert first.path.stat().st_mtime_ns == made
    assert service.spent() == spent


def test_a_result_of_another_source_stays_refused(
    make_clip: Callable[..., Path], service: Service, pm: PluginManager
) -> None:
    shot = make_clip("shot.mp4", seconds=1, fps=12)
    other = make_clip("other.mp4", seconds=2, fps=12)
    target = shot.parent / "final.mp4"
    upscale(shot, service, pm, output=target)
    before = target.read_bytes()
    spent = service.spent()

    with pytest.raises(InputError, match="exists") as caught:
        upscale(other, service, pm, output=target)

    assert caught.value.exit_code == 3
    assert target.read_bytes() == before
    assert service.spent() == spent


def test_a_result_changed_by_hand_stays_refused(
    make_clip: Callable[..., Path], service: Service, pm: PluginManager
) -> None:
    source = make_clip("shot.mp4", seconds=1, fps=12)
    first = upscale(source, service, pm)
    with first.path.open("ab") as handle:  # someone's edit: the sidecar no longer describes it
        handle.write(b"graded by hand")
    make_clip("shot.mp4", seconds=2, fps=12)

    with pytest.raises(InputError, match="exists"):
        upscale(source, service, pm)
    assert first.path.read_bytes().endswith(b"graded by hand")


# -- the rule on the files a first run left ------------------------------------------------------


@pytest.fixture
def made(clip: Path, service: Service, pm: PluginManager) -> Artifact:
    """A result of ``clip`` made with the journal on (its sidecar beside it)."""
    return upscale(clip, service, pm)


def test_with_the_journal_the_content_hash_decides(clip: Path, made: Artifact) -> None:
    config = fast_config()
    assert older_version(clip, made.path, config) is None  # unchanged: handed back instead

    flip_a_byte(clip)  # same size, another render
    back_in_time(clip)  # and never mind the clock: the journal knows
    assert "content changed" in str(older_version(clip, made.path, config))


def test_without_the_journal_size_or_time_decide(clip: Path, made: Artifact) -> None:
    config = fast_config(NO_JOURNAL)
    assert older_version(clip, made.path, config) is None

    flip_a_byte(clip)  # written after the output
    assert "modified since" in str(older_version(clip, made.path, config))
    back_in_time(clip)  # same size, older than the output: no proof, so no
    assert older_version(clip, made.path, config) is None
    with clip.open("ab") as handle:
        handle.write(b"\0")
    back_in_time(clip)
    assert "size changed" in str(older_version(clip, made.path, config))


def test_a_sidecar_must_name_this_source_by_an_absolute_path(
    clip: Path, made: Artifact, tmp_path: Path
) -> None:
    config = fast_config(NO_JOURNAL)
    flip_a_byte(clip)
    record = sidecar_of(made.path)
    assert older_version(clip, made.path, config) is not None

    # A relative path: it may have named another folder's shot.mp4.
    record["source"]["path"] = "shot.mp4"
    sidecar_path(made.path).write_text(json.dumps(record), encoding="utf-8")
    assert older_version(clip, made.path, config) is None
    # Another file's path.
    record["source"]["path"] = str(tmp_path / "elsewhere" / "shot.mp4")
    sidecar_path(made.path).write_text(json.dumps(record), encoding="utf-8")
    assert older_version(clip, made.path, config) is None
    # A broken sidecar, or none.
    sidecar_path(made.path).write_text("{", encoding="utf-8")
    assert older_version(clip, made.path, config) is None
    sidecar_path(made.path).unlink()
    assert older_version(clip, made.path, config) is None


def test_the_journal_speaks_only_for_the_job_that_made_the_file(
    clip: Path, made: Artifact, tmp_path: Path
) -> None:
    # The output was copied from another run (other task ids): the journal's record of this
    # source and output is not about this file, and the sidecar is left to decide.
    record = sidecar_of(made.path)
    record["task_id"] = "another-task"
    record["source"]["path"] = str(tmp_path / "elsewhere" / "shot.mp4")
    sidecar_path(made.path).write_text(json.dumps(record), encoding="utf-8")
    flip_a_byte(clip)

    assert older_version(clip, made.path, fast_config()) is None


def test_url_sources_and_missing_files_never_qualify(clip: Path, made: Artifact) -> None:
    from uprez.media.remote import RemoteVideo

    config = fast_config()
    assert older_version(RemoteVideo("https://example.invalid/shot.mp4"), made.path, config) is None
    moved = made.path.with_name("moved.mp4")
    shutil.copy(made.path, moved)
    assert older_version(clip, moved, config) is None  # no sidecar of its own
    clip.unlink()
    assert older_version(clip, made.path, config) is None
