"""Which representations of a pyblish instance are upscaled (``uprez.hooks.pyblish_movies``).

The instances are shaped as ayon-core and ayon-nuke leave them when ``ExtractUpscale`` runs;
the publish itself is in ``tests/scenarios/hosts/test_pyblish*.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from uprez.hooks.pyblish_movies import find_movies

TAG = "uprez-4k"
SKIP = ("delete", "need_thumbnail", "publish_on_farm")


def movie(name: str, *tags: str, ext: str = "mp4", files: Any = None) -> dict[str, Any]:
    return {
        "name": name,
        "ext": ext,
        "files": files if files is not None else f"shot_{name}.{ext}",
        "stagingDir": "/staging",
        "tags": list(tags),
    }


def names(data: dict[str, Any], **options: Any) -> list[str]:
    found = find_movies(data, TAG, options.get("skip", SKIP), options.get("source", ()))
    return [m.path.name for m in found.movies]


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        (("baking", "review", "need_thumbnail", "delete"), "tagged need_thumbnail, delete"),
        (("review", "need_thumbnail"), "tagged need_thumbnail"),
        (("review", "publish_on_farm"), "tagged publish_on_farm"),
        (("delete",), "tagged delete"),
    ],
    ids=["nuke-intermediate", "thumbnail-source", "baked-on-the-farm", "intermediate"],
)
def test_a_representation_with_a_skip_tag_is_passed_over_with_the_reason(
    tags: tuple[str, ...], why: str
) -> None:
    data = {"representations": [movie("other", *tags), movie("h264", "review", "burnin")]}

    found = find_movies(data, TAG, SKIP)

    assert [m.path for m in found.movies] == [Path("/staging/shot_h264.mp4")]
    assert found.passed_over == [("other", f"{why} (pyblish.skip_tags)")]


def test_source_tags_keep_only_the_representations_that_carry_one() -> None:
    data = {
        "representations": [
            movie("h264", "review", "webreview"),
            movie("prores", "review"),
            movie("mov", "uprez"),
        ],
        "files": ["/staging/legacy.mp4"],
    }

    assert names(data, source=("uprez", "webreview")) == ["shot_h264.mp4", "shot_mov.mp4"]
    # No representation carries one: the older ``files`` convention is not read either.
    assert names(data, source=("kitsureview",)) == []
    assert names({"files": ["/staging/legacy.mp4"]}, source=("uprez",)) == []


def test_a_skip_tag_wins_over_a_source_tag() -> None:
    data = {"representations": [movie("h264", "uprez", "publish_on_farm")]}

    assert names(data, source=("uprez",)) == []


def test_stills_and_representations_without_a_folder_are_not_sources() -> None:
    still = movie("png", "review", ext="png")
    homeless = {**movie("h264", "review"), "stagingDir": None}
    listed_movies = movie("mp4s", "review", files=["a.1001.mp4", "a.1002.mp4"])
    dotted = movie("mov", "review", ext=".MOV", files="shot.MOV")
    data = {"representations": [still, homeless, listed_movies, dotted]}

    found = find_movies(data, TAG, SKIP)

    assert [m.path.name for m in found.movies] == ["shot.MOV"]
    assert found.sequences == [] and found.unreadable == []
    assert dict(found.passed_over) == {
        "png": "not a movie nor an image sequence (ext 'png')",
        "h264": "no stagingDir",
        "mp4s": "not a single file",
    }


def test_a_movie_already_upscaled_is_done_whatever_its_representation_is_called() -> None:
    """A re-publish's representations are built anew, under any name: the file decides."""
    ours = {
        **movie("4k", TAG, files="shot_h264_4k.mp4"),
        "data": {"uprez": {"source": "/staging/shot_h264.mp4"}},
    }
    renamed = movie("review_h264", "review", files="shot_h264.mp4")
    data = {"representations": [renamed, movie("prores", "review"), ours]}

    found = find_movies(data, TAG, SKIP)

    assert found.done == [Path("/staging/shot_h264.mp4")]
    assert [m.path.name for m in found.movies] == ["shot_prores.mp4"]
