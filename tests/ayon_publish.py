"""An AYON-shaped publish for the pyblish tests: ayon-core's plugins in small, at their orders.

Each plugin here does to ``instance.data["representations"]`` what its namesake in ayon-core
does (ynput/ayon-core at e671f73, ``client/ayon_core/plugins/publish/``), with a copy in place
of ffmpeg's transcode (the same picture, the same bytes at every publish) and PyAV in place of
the burn-in script; ``integrator_keeps`` is what ``IntegrateAsset`` stores of a
representation. The line numbers cited are of that commit. Only what cannot exist here is
stood in: ayon-core is an AYON addon, not a package on an index, and needs a server.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import av
import numpy as np
import pyblish.api

#: Representation attributes on an AYON server: those whose scope includes "R" in
#: ynput/ayon-backend ``setup/attributes.py`` (at 16b514a). ``IntegrateAsset`` stores a key of
#: ``repre["data"]`` that is one of them as an attribute, any other as data.
REPRESENTATION_ATTRIBUTES = frozenset(
    {
        "fps",
        "resolutionWidth",
        "resolutionHeight",
        "pixelAspect",
        "clipIn",
        "clipOut",
        "frameStart",
        "frameEnd",
        "handleStart",
        "handleEnd",
        "path",
        "template",
        "extension",
        "description",
    }
)
#: A frame's name as clique assembles it: head, number, extension.
FRAME = re.compile(r"(.*?)(\d+)(\.[^.]+)")
#: A colour space as ayon-core's ``set_colorspace_data_to_representation`` writes it.
COLORSPACE = {"colorspace": "ACES - ACEScg", "config": {"path": "/studio/ocio/config.ocio"}}


def integrator_keeps(instance_data: Mapping[str, Any], repre: Mapping[str, Any]) -> dict[str, Any]:
    """What ayon-core's ``IntegrateAsset`` (``integrate.py``) stores of one representation.

    * 582-585: an ``ext`` that starts with a dot stops the publish (KnownPublishError);
    * 605-612: ``colorspaceData["colorspace"]`` fills the path template's ``colorspace``;
    * 628-645: ``resolutionWidth``/``resolutionHeight``, ``fps``, ``outputName`` and
      ``originalBasename`` fill the template, from the representation, else from the instance;
    * 532-565: a sequence's ``files`` (a list) must be the frames of one sequence, names only;
    * 722-750: a sequence is published renumbered from the representation's ``frameStart``
      (``frameStart + i`` for its ``i``-th file): ``frames`` says which numbers it gets;
    * 810-818: a single file is copied from ``stagingDir``/``files`` (it must be there);
    * 862-873: each key of ``repre["data"]`` becomes an attribute if the server has such a
      representation attribute, else data; ``colorspaceData`` is added to the data;
    * 874-881: the entity is made of the name, files, data and attributes: tags and every other
      key of the representation are not stored.

    Which instances and representations reach it: see :func:`integrated`.
    """
    assert not str(repre["ext"]).startswith("."), f"ext {repre['ext']!r} starts with a dot"
    files = repre["files"]
    names = [files] if isinstance(files, str) else list(files)
    for name in names:
        assert Path(name).name == name, f"{repre['name']}: {name!r} is not a file name"
        path = Path(repre["stagingDir"]) / name
        assert path.is_file(), f"{repre['name']}: {path} is missing"
    frames: list[int] = []
    if not isinstance(files, str):
        parts = [FRAME.fullmatch(name) for name in names]
        assert all(parts), f"{repre['name']}: not all of {names} are numbered"
        assert len({(m[1], m[3], len(m[2])) for m in parts if m}) == 1, f"not one sequence: {names}"
        numbers = sorted(int(m[2]) for m in parts if m)
        start = repre.get("frameStart")
        frames = numbers if start is None else [int(start) + i for i in range(len(numbers))]
    template: dict[str, Any] = {"representation": repre["name"], "ext": repre["ext"]}
    if repre.get("colorspaceData"):
        template["colorspace"] = repre["colorspaceData"]["colorspace"].replace(" ", "_")
    keys = {
        "resolutionWidth": "resolution_width",
        "resolutionHeight": "resolution_height",
        "fps": "fps",
        "outputName": "output",
        "originalBasename": "originalBasename",
    }
    for key, anatomy_key in keys.items():
        value = repre.get(key)
        if value is None:
            value = instance_data.get(key)
        if value is not None:
            template[anatomy_key] = value
    attrib: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, value in (repre.get("data") or {}).items():
        (attrib if key in REPRESENTATION_ATTRIBUTES else data)[key] = value
    if repre.get("colorspaceData"):
        data["colorspaceData"] = repre["colorspaceData"]
    return {
        "name": repre["name"],
        "files": [str(Path(repre["stagingDir"]) / n) for n in names],
        "attrib": attrib,
        "data": copy.deepcopy(data),
        "template": template,
        "frames": frames,
    }


def integrated(instance_data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The representations ``IntegrateAsset`` integrates: none of an instance published on the
    farm or not to be integrated (``process``, 137-147), none tagged ``delete`` (201-203)."""
    if instance_data.get("farm") or not instance_data.get("integrate", True):
        return []
    reps = instance_data.get("representations") or []
    return [r for r in reps if "delete" not in (r.get("tags") or [])]


def burn_in(source: Path, target: Path) -> None:
    """What ExtractBurnin's script makes, in small: the picture with a white box burnt into its
    top-left corner, where AYON's default burn-ins put text."""
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        video = src.streams.video[0]
        rate = video.average_rate
        assert rate is not None
        stream = out.add_stream("libx264", rate=rate)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        for index, frame in enumerate(src.decode(video)):
            picture = frame.to_ndarray(format="rgb24")
            picture[: video.height * 2 // 9, : video.width // 4] = 255
            burnt = av.VideoFrame.from_ndarray(picture, format="rgb24")
            burnt.pts = index
            out.mux(stream.encode(burnt))
        out.mux(stream.encode(None))


def corner_brightness(path: Path) -> float:
    """How bright the burn-in corner of a movie's first frame is (0..255, green channel): a
    burnt-in picture is white there, the clean test pattern dark (its green is a vertical
    gradient from 0 at the top)."""
    with av.open(str(path)) as movie:
        frame = next(movie.decode(video=0)).to_ndarray(format="rgb24")
    height, width = frame.shape[:2]
    inner = frame[height // 40 : height * 2 // 11, width // 32 : width * 7 // 32, 1]
    return float(np.mean(inner))


@dataclass
class AyonStudio:
    """A studio's publish: instances as ayon-core's collectors leave them, its extractors, an
    integrator that records what ``IntegrateAsset`` would keep, and the clean-up of the
    staging dir. ``render`` writes the rendered movie a publish starts from."""

    root: Path
    render: Callable[[Path], object]
    kept: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    publishes: int = 0

    def install(
        self, *, farm_instance: bool = True, clean_up: bool = True, integrate: bool = True
    ) -> None:
        """Register the studio's plugins (each publish gets a fresh temporary staging dir);
        ``integrate=False`` marks the review instance not to be integrated."""
        studio = self

        class CollectRender(pyblish.api.ContextPlugin):  # type: ignore[misc]
            """Nuke's review instances (ayon-nuke ``api/plugin.py``, ``get_representation_data``
            and the baking that calls it, 960-1010 and 1433-1456): one baked here, its
            intermediate tagged review, need_thumbnail and delete; one published on the farm
            (``farm``), its movie to be baked there (``publish_on_farm``)."""

            order = pyblish.api.CollectorOrder

            def process(self, context: Any) -> None:
                studio.publishes += 1
                staging = studio.root / f"publish{studio.publishes}"
                staging.mkdir(parents=True)
                studio.render(staging / "shot010_baking.mp4")
                shot = context.create_instance("shot010", family="render", families=["review"])
                shot.data.update(
                    stagingDir=str(staging),
                    fps=12,
                    resolutionWidth=64,
                    resolutionHeight=36,
                    representations=[
                        {
                            "name": "baking",
                            "outputName": "baking",
                            "ext": "mp4",
                            "files": "shot010_baking.mp4",
                            "stagingDir": str(staging),
                            "tags": ["baking", "review", "need_thumbnail", "delete"],
                            "data": {"isIntermediate": True, "isMultiIntermediates": False},
                            "frameStart": 1001,
                            "frameEnd": 1012,
                            "colorspaceData": copy.deepcopy(COLORSPACE),
                        },
                    ],
                )
                if not integrate:
                    shot.data["integrate"] = False
                if farm_instance:
                    render = context.create_instance(
                        "shot020", family="render", families=["review"]
                    )
                    render.data.update(
                        farm=True,
                        stagingDir=str(staging),
                        representations=[
                            {
                                "name": "baking",
                                "outputName": "baking",
                                "ext": "mov",
                                "files": "shot020_baking.mov",  # baked on the farm, later
                                "stagingDir": str(staging),
                                "tags": ["baking", "review", "need_thumbnail", "publish_on_farm"],
                                "data": {"isIntermediate": True, "isMultiIntermediates": False},
                            }
                        ],
                    )

        class ExtractReview(pyblish.api.InstancePlugin):  # type: ignore[misc]
            """``extract_review.py``: each ``review`` movie gives an ``h264`` output (a copy
            with the output definition's tags, less ``delete`` and ``need_thumbnail``: 445-464;
            named ``<output>_<ext>``: 614-621); then what is tagged ``delete`` goes, unless it
            is a thumbnail source (175-189). The farm's instances are left to the farm."""

            order = pyblish.api.ExtractorOrder + 0.02
            families: ClassVar[list[str]] = ["review"]

            def process(self, instance: Any) -> None:
                if instance.data.get("farm"):
                    return
                originals = tuple(instance.data["representations"])
                for repre in originals:
                    tags = repre.get("tags") or []
                    if "review" not in tags or repre["ext"] not in ("mov", "mp4"):
                        continue
                    new = copy.deepcopy(repre)
                    new_tags = [t for t in new["tags"] if t not in ("delete", "need_thumbnail")]
                    new_tags += ["burnin", "ftrackreview", "webreview"]
                    name = f"{instance.name}_h264.mp4"
                    shutil.copyfile(
                        Path(repre["stagingDir"]) / repre["files"], Path(new["stagingDir"]) / name
                    )
                    new.update(
                        tags=new_tags,
                        files=name,
                        ext="mp4",
                        name="h264_mp4",
                        outputName="h264",
                        fps=12,
                        resolutionWidth=64,
                        resolutionHeight=36,
                        outputDef={"name": "h264", "ext": "mp4", "tags": new_tags[-3:]},
                    )
                    instance.data["representations"].append(new)
                for repre in originals:
                    tags = repre.get("tags") or []
                    if "delete" in tags and not {"thumbnail", "need_thumbnail"} & set(tags):
                        instance.data["representations"].remove(repre)

        class ExtractBurnin(pyblish.api.InstancePlugin):  # type: ignore[misc]
            """``extract_burnin.py``: each movie tagged ``burnin`` is replaced by a burnt-in copy
            (``<stem>_burnin<ext>``, 299-383, 640-667), and the clean movie's representation is
            removed and its file deleted (395-404)."""

            order = pyblish.api.ExtractorOrder + 0.03
            families: ClassVar[list[str]] = ["review", "burnin"]

            def process(self, instance: Any) -> None:
                for repre in tuple(instance.data.get("representations") or []):
                    if "burnin" not in (repre.get("tags") or []):
                        continue
                    source = Path(repre["stagingDir"]) / repre["files"]
                    new = copy.deepcopy(repre)
                    new["files"] = f"{source.stem}_burnin{source.suffix}"
                    burn_in(source, source.with_name(new["files"]))
                    instance.data["representations"].append(new)
                    instance.data["representations"].remove(repre)
                    source.unlink()

        class ExtractThumbnail(pyblish.api.InstancePlugin):  # type: ignore[misc]
            """``extract_thumbnail.py`` 120-138: after the thumbnail, the representations tagged
            ``delete`` and ``need_thumbnail`` go (not those baked on the farm)."""

            order = pyblish.api.ExtractorOrder + 0.49

            def process(self, instance: Any) -> None:
                for repre in tuple(instance.data.get("representations") or []):
                    tags = repre.get("tags") or []
                    if "publish_on_farm" in tags:
                        continue
                    if "delete" in tags and "need_thumbnail" in tags:
                        instance.data["representations"].remove(repre)

        class IntegrateAsset(pyblish.api.InstancePlugin):  # type: ignore[misc]
            """Records what ``IntegrateAsset`` would store of each representation, and copies
            its files out of the staging dir (``published``), as the integrator does."""

            order = pyblish.api.IntegratorOrder

            def process(self, instance: Any) -> None:
                reps = integrated(instance.data)
                if not reps:
                    return  # nothing to integrate (process, 149-160)
                names = [r["name"] for r in reps]
                assert len(names) == len(set(names)), f"representation names repeat: {names}"
                version = studio.root / "published" / instance.name / f"v{studio.publishes:03d}"
                kept = []
                for repre in reps:
                    entity = integrator_keeps(instance.data, repre)
                    entity["published"] = []
                    for source in entity["files"]:
                        target = version / repre["name"] / Path(source).name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(source, target)
                        entity["published"].append(target)
                    kept.append(entity)
                studio.kept[instance.name] = kept

        class CleanUp(pyblish.api.InstancePlugin):  # type: ignore[misc]
            """``cleanup.py`` 21-98: a temporary staging dir is removed after integration."""

            order = pyblish.api.IntegratorOrder + 10

            def process(self, instance: Any) -> None:
                if not instance.data.get("farm"):
                    shutil.rmtree(instance.data["stagingDir"], ignore_errors=True)

        plugins: list[type] = [
            CollectRender,
            ExtractReview,
            ExtractBurnin,
            ExtractThumbnail,
            IntegrateAsset,
        ]
        if clean_up:
            plugins.append(CleanUp)
        for plugin in plugins:
            pyblish.api.register_plugin(plugin)

    def kept_by_name(self, instance: str) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self.kept.get(instance, [])}


def stop_at_any_error(**state: Any) -> str | None:
    """AYON's publisher: any error that is not a validation error stops the publish
    (``tools/publisher/models/publish.py`` 1361-1380). As a pyblish test."""
    return "an error (AYON stops the publish)" if state["ordersWithError"] else None
