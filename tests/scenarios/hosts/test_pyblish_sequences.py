"""A rendered image sequence in an AYON-shaped publish: only what the edit uses, billed as said.

A real headless pyblish publish (pyblish-base) of a render instance as ayon-core's farm publish
leaves it (``pipeline/farm/pyblish_functions.py``): the instance's ``frameStart``/``frameEnd``
without handles, ``handleStart``/``handleEnd``, ``fps``; a representation listing the frames
rendered with the handles (``files`` a list, its ``frameStart`` the first file), tagged review,
with ``colorspaceData``; and the review movie ExtractReview made of it. The frames are real PNG
files (PyAV), upscaled through the local server on loopback; what is checked is what
ayon-core's integrator would store (``tests/ayon_publish.py``), renumbering included.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import pyblish.api
import pyblish.util
import pytest
from ayon_publish import integrator_keeps, stop_at_any_error

from uprez.config import Config, load_config
from uprez.hooks import pyblish_adapter
from uprez.media.probe import probe
from uprez.media.sequence import find_sequence

from sequences import exr_sequence, png_sequence
from support import FAST, SECRET_KEY, TEST_BOX, Service

#: The render: 48 frames 1001-1048, the edit 1009-1040 with 8 frames of handles each side, at a
#: rate low enough that the two choices bill differently (12 s and 8 s; 5 s is the minimum).
FIRST, LAST, EDIT, HANDLES, FPS = 1001, 1048, (1009, 1040), 8, 4.0
#: A display-referred texture space (PNG frames): the result stays in it.
COLORSPACE = {"colorspace": "sRGB - Texture", "config": {"path": "/studio/ocio/config.ocio"}}


@pytest.fixture(autouse=True)
def clean_pyblish() -> Iterator[None]:
    """Nothing registered in pyblish before and after; any error stops the publish (AYON)."""
    pyblish.api.deregister_all_plugins()
    pyblish.api.deregister_all_paths()
    pyblish.api.register_test(stop_at_any_error)
    try:
        yield
    finally:
        pyblish_adapter.deregister()
        pyblish.api.deregister_all_plugins()
        pyblish.api.deregister_all_paths()
        pyblish.api.deregister_test()


def config_for(
    service: Service, more: dict[str, object] | None = None, **pyblish: object
) -> Config:
    overrides = {f"pyblish.{key}": value for key, value in pyblish.items()}
    return load_config(
        env={"WAVESPEED_API_KEY": SECRET_KEY},
        overrides={**FAST, "provider.base_url": service.base_url, **overrides, **(more or {})},
    )


def install_render(
    staging: Path,
    make_clip: Callable[..., Path],
    *,
    missing: tuple[int, ...] = (),
    render: bool = True,
    ext: str = "png",
    colour: dict[str, Any] = COLORSPACE,
) -> dict[str, Any]:
    """Register a collector of one render instance (its frames rendered into ``staging``, or
    those there already) and an integrator; return what the integrator keeps, by
    representation name, once the publish has run."""
    kept: dict[str, Any] = {}

    class CollectRender(pyblish.api.ContextPlugin):  # type: ignore[misc]
        order = pyblish.api.CollectorOrder

        def process(self, context: Any) -> None:
            if render:
                size = {"first": FIRST, "count": LAST - FIRST + 1, "width": 64, "height": 36}
                if ext == "png":
                    png_sequence(staging, name="sh010", bits=8, **size)
                else:
                    exr_sequence(staging, name="sh010", **size)
            frames = find_sequence(staging / f"sh010.####.{ext}")
            for number in missing:
                frames.path(number).unlink()
            review = make_clip("review.mp4", seconds=1, fps=12, width=64, height=36)
            shutil.copyfile(review, staging / "sh010_h264.mp4")
            context.data.update(handleStart=0, handleEnd=0, fps=25)  # the project's, not used
            shot = context.create_instance("sh010", family="render", families=["review"])
            shot.data.update(
                stagingDir=str(staging),
                frameStart=EDIT[0],
                frameEnd=EDIT[1],
                handleStart=HANDLES,
                handleEnd=HANDLES,
                fps=FPS,
                resolutionWidth=64,
                resolutionHeight=36,
                representations=[
                    {
                        "name": ext,
                        "ext": ext,
                        "files": [frames.frame_name(n) for n in range(FIRST, LAST + 1)],
                        "stagingDir": str(staging),
                        "frameStart": FIRST,
                        "frameEnd": LAST,
                        "fps": FPS,
                        "tags": ["review"],
                        "colorspaceData": copy.deepcopy(colour),
                    },
                    {
                        "name": "h264_mp4",
                        "ext": "mp4",
                        "files": "sh010_h264.mp4",
                        "stagingDir": str(staging),
                        "outputName": "h264",
                        "tags": ["review", "burnin", "ftrackreview"],
                    },
                ],
            )

    class IntegrateAsset(pyblish.api.InstancePlugin):  # type: ignore[misc]
        order = pyblish.api.IntegratorOrder

        def process(self, instance: Any) -> None:
            for repre in instance.data["representations"]:
                kept[repre["name"]] = integrator_keeps(instance.data, repre)

    for plugin in (CollectRender, IntegrateAsset):
        pyblish.api.register_plugin(plugin)
    return kept


def upscale_log(context: Any) -> list[str]:
    [result] = [r for r in context.data["results"] if r["plugin"].__name__ == "ExtractUpscale"]
    return [record.getMessage() for record in result["records"]]


def failures(context: Any) -> list[tuple[str, str]]:
    return [(r["plugin"].__name__, str(r["error"])) for r in context.data["results"] if r["error"]]


@pytest.mark.parametrize("handles", [True, False], ids=["with-handles", "without-handles"])
def test_a_render_instance_is_upscaled_with_or_without_its_handles_priced_both_ways_first(
    tmp_path: Path, service: Service, make_clip: Callable[..., Path], handles: bool
) -> None:
    staging = tmp_path / "staging"
    kept = install_render(staging, make_clip)
    pyblish_adapter.register(config_for(service, handles=handles))

    context = pyblish.util.publish()

    assert failures(context) == []
    first, last = (FIRST, LAST) if handles else EDIT
    count = last - first + 1
    # Billed for what was chosen: one proxy of 48 (or 32) frames, one task.
    assert service.spent() == (1, 1)
    [proxy] = service.uploaded_files()
    assert probe(proxy).frames == count
    # Both prices were said before anything was spent.
    log = upscale_log(context)
    priced = next(m for m in log if "with handles 48 frames" in m)
    assert priced == (
        f"{staging / 'sh010.####.png'}: with handles 48 frames 1001-1048 (handles 8+8): $0.24 "
        "(12 s billed); without: 32 frames 1009-1040 (handles 0+0): $0.16 (8 s billed); "
        f"upscaling {'with' if handles else 'without'} handles "
        f"(pyblish.handles = {str(handles).lower()})"
    )
    assert log.index(priced) < next(i for i, m in enumerate(log) if m.startswith("upscaling 1 "))
    # The review movie made of the same frames is not paid for too.
    assert "representation 'h264_mp4' is not a source: a review of the instance's frames" in (
        " ".join(log)
    )
    # What the integrator keeps: the 4K frames, numbered as rendered, with the facts.
    assert sorted(kept) == ["4k", "4k_sidecar", "h264_mp4", "png"]
    uhd = kept["4k"]
    names = [Path(f).name for f in uhd["files"]]
    assert names == [f"sh010_4k.{n}.png" for n in range(first, last + 1)]
    assert uhd["frames"] == list(range(first, last + 1))  # renumbered from frameStart: unshifted
    assert sorted(p.name for p in staging.glob("sh010_4k.*.png")) == names
    with av.open(str(staging / names[-1])) as frame:
        assert (frame.streams.video[0].width, frame.streams.video[0].height) == TEST_BOX
    handle = HANDLES if handles else 0
    assert uhd["attrib"] == {
        "resolutionWidth": TEST_BOX[0],
        "resolutionHeight": TEST_BOX[1],
        "fps": FPS,
        "frameStart": first,
        "frameEnd": last,
        "handleStart": handle,
        "handleEnd": handle,
    }
    assert uhd["template"]["ext"] == "png" and uhd["template"]["fps"] == FPS
    assert uhd["data"]["colorspaceData"] == COLORSPACE  # display-referred: unchanged
    facts = uhd["data"]["uprez"]
    billed, cost = (12, "0.24") if handles else (8, "0.16")
    assert (facts["billed_seconds"], facts["cost"], facts["paid"]) == (billed, cost, cost)
    assert facts["source"] == str(staging / "sh010.####.png")
    assert facts["output"] == str(staging / "sh010_4k.####.png")
    assert facts["handles"] == {
        "included": handles,
        "with": {
            "frameStart": FIRST,
            "frameEnd": LAST,
            "frames": 48,
            "handleStart": HANDLES,
            "handleEnd": HANDLES,
            "cost": "0.24",
            "billed_seconds": 12,
        },
        "without": {
            "frameStart": EDIT[0],
            "frameEnd": EDIT[1],
            "frames": 32,
            "handleStart": 0,
            "handleEnd": 0,
            "cost": "0.16",
            "billed_seconds": 8,
        },
    }
    [sidecar] = kept["4k_sidecar"]["files"]
    assert Path(sidecar).name == "sh010_4k.####.png.uprez.json"


def test_a_republish_of_the_same_frames_pays_nothing_more(
    tmp_path: Path, service: Service, make_clip: Callable[..., Path]
) -> None:
    """A render is published from where it was rendered: publishing it again (its 4K frames
    gone with the last publish's clean-up) collects what was paid for."""
    staging = tmp_path / "staging"
    first = install_render(staging, make_clip)
    pyblish_adapter.register(config_for(service))
    assert failures(pyblish.util.publish()) == []
    paid = first["4k"]["data"]["uprez"]
    for made in staging.glob("sh010_4k.*"):
        made.unlink()
    pyblish.api.deregister_all_plugins()
    pyblish_adapter.register(config_for(service))

    kept = install_render(staging, make_clip, render=False)
    context = pyblish.util.publish()

    assert failures(context) == []
    assert service.spent() == (1, 1)  # one upload, one task over both publishes
    facts = kept["4k"]["data"]["uprez"]
    assert (facts["task_id"], facts["cost"]) == (paid["task_id"], "0.24")
    assert len(kept["4k"]["files"]) == 48


def test_a_frame_missing_from_the_edit_is_refused_before_anything_is_spent(
    tmp_path: Path, service: Service, make_clip: Callable[..., Path]
) -> None:
    staging = tmp_path / "staging"
    kept = install_render(staging, make_clip, missing=(1020, 1021))
    pyblish_adapter.register(config_for(service))

    context = pyblish.util.publish()

    [(plugin, error)] = failures(context)
    assert plugin == "ExtractUpscale"
    assert "frames 1020-1021" in error and "sh010.####.png" in error
    assert service.spent() == (0, 0) and kept == {}


def test_without_a_frame_rate_anywhere_the_sequence_is_refused_naming_what_gives_one(
    tmp_path: Path, service: Service, make_clip: Callable[..., Path]
) -> None:
    staging = tmp_path / "staging"
    install_render(staging, make_clip)

    class ForgetRates(pyblish.api.InstancePlugin):  # type: ignore[misc]
        order = pyblish.api.CollectorOrder + 0.1

        def process(self, instance: Any) -> None:
            instance.data.pop("fps")
            instance.context.data.pop("fps")
            for repre in instance.data["representations"]:
                repre.pop("fps", None)

    pyblish.api.register_plugin(ForgetRates)
    pyblish_adapter.register(config_for(service, on_error="warn"))

    context = pyblish.util.publish()

    assert failures(context) == []
    warned = [m for m in upscale_log(context) if "published without its 4K" in m]
    assert len(warned) == 1 and "--fps" in warned[0] and "sequence.fps" in warned[0]
    assert service.spent() == (0, 0)


#: Scene-linear Rec.709, as ayon-core writes an ACES 1.2 config's name for a render (the studio's
#: config is not here: OCIO's built-in studio config knows the name as an alias, and its own
#: scene_linear role is another space, ACEScg).
LINEAR = {"colorspace": "Utility - Linear - sRGB", "config": {"path": "/studio/ocio/config.ocio"}}


@pytest.mark.parametrize("output", ["auto", "movie"], ids=["frames", "movie"])
def test_scene_linear_frames_go_through_the_instance_colourspace_and_say_what_comes_back(
    tmp_path: Path, service: Service, make_clip: Callable[..., Path], output: str
) -> None:
    staging = tmp_path / "staging"
    kept = install_render(staging, make_clip, ext="exr", colour=LINEAR)
    pyblish_adapter.register(config_for(service, {"sequence.output": output}, handles=False))

    context = pyblish.util.publish()

    assert failures(context) == []
    uhd = kept["4k"]
    [sidecar] = kept["4k_sidecar"]["files"]
    view = json.loads(Path(sidecar).read_text(encoding="utf-8"))["master"]["proxy"]["colour"]
    assert view["source_colourspace"] == "Linear Rec.709 (sRGB)"  # the instance's, by its alias
    if output == "auto":
        assert [Path(f).name for f in uhd["files"]][:2] == [
            "sh010_4k.1009.exr",
            "sh010_4k.1010.exr",
        ]
        assert view["invertible"] is True
        assert uhd["data"]["colorspaceData"] == LINEAR  # brought back into it
    else:
        [movie] = uhd["files"]
        assert Path(movie).name == "sh010_4k.mp4" and probe(Path(movie)).frames == 32
        assert uhd["data"]["colorspaceData"] == {
            "colorspace": view["display"],  # what the service saw: the display's picture
            "display": view["display"],
            "view": view["view"],
            "config": LINEAR["config"],
        }
    assert (uhd["attrib"]["frameStart"], uhd["attrib"]["handleStart"]) == (1009, 0)
