"""Rendered sequences on a pyblish instance (``uprez.hooks.pyblish_sequences``): which frames,
the edit's range, its handles and the frame rate, as ayon-core's publish leaves them.

Only file names matter here (nothing is decoded), so the frames are empty files; the publish
that upscales real frames is ``tests/scenarios/hosts/test_pyblish_sequences.py``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from uprez.errors import InputError
from uprez.hooks.pyblish_movies import find_movies
from uprez.hooks.pyblish_sequences import Rendered, rendered
from uprez.media.image_sequence import ImageSequence

TAG = "uprez-4k"
SKIP = ("delete", "need_thumbnail", "publish_on_farm")


def frames(folder: Path, first: int, last: int, name: str = "sh010", ext: str = "exr") -> list[str]:
    """Touch frames ``name.<first..last>.ext`` in ``folder``; return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{name}.{n:04d}.{ext}" for n in range(first, last + 1)]
    for each in names:
        (folder / each).touch()
    return names


def representation(folder: Path, files: list[str], **keys: Any) -> dict[str, Any]:
    """A render's representation as ayon-core's farm publish writes it."""
    return {
        "name": "exr",
        "ext": "exr",
        "files": files,
        "stagingDir": str(folder),
        "tags": ["review"],
        **keys,
    }


def sequence(first: int, last: int) -> ImageSequence:
    return ImageSequence(Path("/r"), "sh010.", ".exr", 4, tuple(range(first, last + 1)))


# -- which frames ----------------------------------------------------------------------------------


def test_with_handles_the_whole_range_is_taken_and_without_only_the_edit() -> None:
    shot = Rendered(sequence(1001, 1048), Path("/r"), {}, 1009, 1040, 8, 8)

    with_handles, without = shot.take(True), shot.take(False)

    assert (with_handles.first, with_handles.last, with_handles.sequence.count) == (1001, 1048, 48)
    assert (with_handles.handle_start, with_handles.handle_end) == (8, 8)
    assert (without.first, without.last, without.sequence.count) == (1009, 1040, 32)
    assert (without.handle_start, without.handle_end) == (0, 0)
    assert with_handles.describe() == "48 frames 1001-1048 (handles 8+8)"


@pytest.mark.parametrize(
    ("rendered_range", "taken", "handles"),
    [
        ((1009, 1040), (1009, 1040), (0, 0)),  # rendered without handles: none are invented
        ((1005, 1048), (1005, 1048), (4, 8)),  # part of the head handle rendered
        ((990, 1060), (1001, 1048), (8, 8)),  # more than the handles rendered: cut to them
    ],
    ids=["no-handles-rendered", "part-of-a-handle", "more-than-the-handles"],
)
def test_the_handles_a_take_holds_are_the_frames_rendered(
    rendered_range: tuple[int, int], taken: tuple[int, int], handles: tuple[int, int]
) -> None:
    shot = Rendered(sequence(*rendered_range), Path("/r"), {}, 1009, 1040, 8, 8)

    take = shot.take(True)

    assert (take.first, take.last) == taken
    assert (take.handle_start, take.handle_end) == handles


def test_an_edit_outside_the_frames_rendered_is_refused() -> None:
    shot = Rendered(sequence(1001, 1048), Path("/r"), {}, 2001, 2010, 8, 8)

    with pytest.raises(InputError, match="no frame in 2001-2010"):
        shot.take(False)


# -- from the instance -----------------------------------------------------------------------------


def test_range_and_handles_come_from_the_instance_and_fps_from_the_representation(
    tmp_path: Path,
) -> None:
    rep = representation(
        tmp_path, frames(tmp_path, 1001, 1048), frameStart=1001, frameEnd=1048, fps=23.976
    )
    instance = {"frameStart": 1009, "frameEnd": 1040, "handleStart": 8, "handleEnd": 8, "fps": 25}

    shot = rendered(rep, instance, {"handleStart": 2, "handleEnd": 2, "fps": 30})

    assert (shot.frame_start, shot.frame_end, shot.handle_start, shot.handle_end) == (
        1009,
        1040,
        8,
        8,
    )
    assert shot.sequence.fps == Fraction(24000, 1001) and shot.fps == 23.976
    assert shot.sequence.pattern == tmp_path / "sh010.####.exr"
    assert shot.sequence.numbers == tuple(range(1001, 1049))


def test_handles_come_from_the_context_when_the_instance_has_none_as_extract_review_reads_them(
    tmp_path: Path,
) -> None:
    rep = representation(tmp_path, frames(tmp_path, 1001, 1048))
    instance = {"frameStart": 1005, "frameEnd": 1044, "handleStart": 4, "fps": 25.0}

    shot = rendered(rep, instance, {"handleStart": 4, "handleEnd": 4})

    assert (shot.handle_start, shot.handle_end) == (4, 4)
    assert shot.sequence.fps == 25 and shot.fps == 25.0


def test_without_an_instance_range_the_representation_range_is_the_edit_without_handles(
    tmp_path: Path,
) -> None:
    rep = representation(tmp_path, frames(tmp_path, 1001, 1048), frameStart=1001, frameEnd=1048)

    shot = rendered(rep, {"handleStart": 8, "handleEnd": 8}, {"fps": "24000/1001"})

    assert (shot.frame_start, shot.frame_end, shot.handle_start, shot.handle_end) == (
        1001,
        1048,
        0,
        0,
    )
    assert shot.sequence.fps == Fraction(24000, 1001)


def test_without_any_fps_the_sequence_has_none_and_the_config_decides(tmp_path: Path) -> None:
    rep = representation(tmp_path, frames(tmp_path, 1, 4))

    shot = rendered(rep, {}, {})

    assert shot.sequence.fps is None and shot.fps is None
    assert (shot.frame_start, shot.frame_end) == (1, 4)


def test_only_the_frames_listed_are_the_sequence(tmp_path: Path) -> None:
    """A staging dir may hold more frames than the representation lists (another chunk)."""
    frames(tmp_path, 1001, 1048)
    rep = representation(tmp_path, [f"sh010.{n}.exr" for n in range(1010, 1020)])

    shot = rendered(rep, {}, {})

    assert shot.sequence.numbers == tuple(range(1010, 1020))


def test_listed_frames_that_are_not_there_are_named(tmp_path: Path) -> None:
    names = frames(tmp_path, 1001, 1010)
    (tmp_path / names[3]).unlink()
    (tmp_path / names[4]).unlink()

    with pytest.raises(InputError, match=r"frames 1004-1005 of .*sh010\.####\.exr are listed"):
        rendered(representation(tmp_path, names), {}, {})


def test_names_of_two_sequences_in_one_representation_are_refused(tmp_path: Path) -> None:
    names = frames(tmp_path, 1, 3) + frames(tmp_path, 1, 3, name="sh020")

    with pytest.raises(InputError, match=r"sh020\.0001\.exr is not a frame of sh010\.####\.exr"):
        rendered(representation(tmp_path, names), {}, {})


# -- among the instance's representations ----------------------------------------------------------


def test_a_rendered_sequence_is_a_source_and_its_review_movie_is_passed_over(
    tmp_path: Path,
) -> None:
    rep = representation(tmp_path, frames(tmp_path, 1001, 1048), frameStart=1001, frameEnd=1048)
    review = {
        "name": "h264_mp4",
        "ext": "mp4",
        "files": "sh010_h264.mp4",
        "stagingDir": str(tmp_path),
        "tags": ["review", "burnin"],
    }
    data = {"representations": [rep, review], "frameStart": 1009, "frameEnd": 1040}

    found = find_movies(data, TAG, SKIP, context={"handleStart": 8, "handleEnd": 8})

    assert found.movies == []
    [shot] = found.sequences
    assert shot.representation is rep and shot.staging_dir == tmp_path
    assert (shot.handle_start, shot.handle_end) == (8, 8)
    why = "a review of the instance's frames, upscaled instead"
    assert found.passed_over == [("h264_mp4", why)]


def test_an_unreadable_sequence_is_reported_and_its_movies_still_passed_over(
    tmp_path: Path,
) -> None:
    rep = representation(tmp_path, ["sh010.1001.exr", "sh010.1002.exr"])
    movie = {"name": "mov", "ext": "mov", "files": "a.mov", "stagingDir": str(tmp_path)}

    found = find_movies({"representations": [rep, movie]}, TAG, SKIP)

    [(path, error)] = found.unreadable
    assert path == tmp_path / "sh010.1001.exr" and isinstance(error, InputError)
    assert found.movies == [] and found.sequences == []


def test_a_sequence_already_upscaled_is_done_by_its_pattern(tmp_path: Path) -> None:
    rep = representation(tmp_path, frames(tmp_path, 1, 4))
    ours = {
        "name": "4k",
        "ext": "exr",
        "files": [f"sh010_4k.{n:04d}.exr" for n in range(1, 5)],
        "stagingDir": str(tmp_path),
        "tags": [TAG],
        "data": {"uprez": {"source": str(tmp_path / "sh010.####.exr")}},
    }

    found = find_movies({"representations": [rep, ours]}, TAG, SKIP)

    assert found.sequences == [] and found.done == [tmp_path / "sh010.####.exr"]
