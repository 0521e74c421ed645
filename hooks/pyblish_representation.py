"""The representations ``ExtractUpscale`` adds, shaped for what an integrator keeps.

ayon-core's ``IntegrateAsset`` (``client/ayon_core/plugins/publish/integrate.py``) stores of a
representation its ``name``, its file(s), the keys of ``repre["data"]`` (those that are
representation attributes on the server, such as ``resolutionWidth``, as attributes; the
rest as data) and ``colorspaceData``; ``resolutionWidth``/``resolutionHeight``, ``fps`` and
``outputName`` on the representation (else on the instance) fill its path template. Tags and
any other key are dropped. So what uprez knows of a result goes under
``repre["data"]["uprez"]``, the 4K size both on the representation and in its data, and the
source's ``colorspaceData`` is copied (the picture is the source's, larger).

A rendered sequence's result is a sequence (:func:`added_for_frames`): ``files`` lists its frame
names, and ``frameStart``/``frameEnd`` are its first and last frame (ayon-core's integrator
renumbers a published sequence from the representation's ``frameStart``, so it must be the first
file: the range *with* the handles it holds, as ayon-core's farm publish writes it), with
``handleStart``/``handleEnd`` (0 when excluded) and ``fps``, on the representation and in its
data (all are representation attributes on an AYON server).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from uprez.config import Config
from uprez.media.image_sequence import ImageSequence
from uprez.records import Artifact
from uprez.version import __version__

from .pyblish_movies import Movie, free_name
from .pyblish_sequences import Priced, Rendered, Take

log = logging.getLogger(__name__)

#: Keys copied from a source representation to its 4K one (the result keeps its timing).
COPIED_KEYS = ("fps", "frameStart", "frameEnd")


def added_for(
    movie: Movie, made: Artifact, config: Config, taken: set[str]
) -> list[dict[str, Any]]:
    """The 4K representation of ``made`` (the result of ``movie``), and its sidecar's when
    there is one; their names are taken from ``taken`` (``4k``, ``4k_2``...)."""
    name = free_name(config.pyblish.representation, taken)
    output = made.path
    assert isinstance(output, Path), "a result is a file"
    representation = _shaped(name, output, output.name, made, config, _facts(movie.path, made))
    source = movie.representation or {}
    for key in COPIED_KEYS:
        if key in source:
            representation[key] = source[key]
    if source.get("colorspaceData"):
        representation["colorspaceData"] = copy.deepcopy(source["colorspaceData"])
    return [representation, *_sidecar_of(representation, made, config, taken)]


def added_for_frames(
    rendered: Rendered,
    take: Take,
    made: Artifact,
    config: Config,
    taken: set[str],
    prices: tuple[Priced, Priced] | None = None,
) -> list[dict[str, Any]]:
    """The 4K representation of ``made``, the result of ``take`` of a rendered sequence (its
    frames, or a movie with ``sequence.output = "movie"``), and its sidecar's; ``prices`` are
    the take with and without handles, recorded under ``data["uprez"]["handles"]``."""
    from uprez.step.conforming import result_sequence  # the step's own naming of the frames

    name = free_name(config.pyblish.representation, taken)
    output = made.path
    assert isinstance(output, Path), "a result is a pattern or a file"
    frames = result_sequence(output, take.sequence)
    facts = _facts(take.sequence, made)
    facts["output"] = str(output)
    if prices is not None:
        with_handles, without = prices
        facts["handles"] = {
            "included": take.with_handles,
            "with": with_handles.to_json(),
            "without": without.to_json(),
        }
    files: str | list[str] = output.name
    if frames is not None:
        files = [frames.frame_name(n) for n in frames.numbers]
    representation = _shaped(name, output, files, made, config, facts)
    if frames is not None:
        representation["ext"] = frames.suffix.lstrip(".")
    timing = {
        "fps": rendered.fps if rendered.fps is not None else _rate(take.sequence),
        "frameStart": take.first,
        "frameEnd": take.last,
        "handleStart": take.handle_start,
        "handleEnd": take.handle_end,
    }
    representation.update(timing)
    representation["data"].update(timing)
    colour = _colour(rendered.representation.get("colorspaceData"), made, frames is not None)
    if colour:
        representation["colorspaceData"] = colour
    return [representation, *_sidecar_of(representation, made, config, taken)]


def _shaped(
    name: str,
    output: Path,
    files: str | list[str],
    made: Artifact,
    config: Config,
    facts: dict[str, Any],
) -> dict[str, Any]:
    """A representation of ``made`` with the keys an integrator keeps."""
    width, height = _size(made, output)
    return {
        "name": name,
        "ext": output.suffix.lstrip(".") or "mp4",
        "files": files,
        "stagingDir": str(output.parent),
        "tags": [config.pyblish.tag],
        "outputName": name,
        "resolutionWidth": width,
        "resolutionHeight": height,
        "data": {"uprez": facts, "resolutionWidth": width, "resolutionHeight": height},
    }


def _sidecar_of(
    representation: dict[str, Any], made: Artifact, config: Config, taken: set[str]
) -> list[dict[str, Any]]:
    """The sidecar's representation, when there is a sidecar."""
    settings = config.pyblish
    name = representation["name"]
    facts = representation["data"]["uprez"]
    added: list[dict[str, Any]] = []
    sidecar = made.result.sidecar if made.result is not None else None
    if sidecar is not None and sidecar.is_file():
        side = free_name(f"{name}_sidecar", taken)
        facts["sidecar_representation"] = side
        added.append(
            {
                "name": side,
                "ext": "json",
                "files": sidecar.name,
                "stagingDir": str(sidecar.parent),
                "tags": [f"{settings.tag}-sidecar"],
                "outputName": side,
                "data": {"uprez": {**facts, "sidecar_of": name}},
            }
        )
    return added


def _facts(source: Path | ImageSequence, made: Artifact) -> dict[str, Any]:
    """What uprez knows of a result, as JSON values (the integrator stores them as they are)."""
    result, record = made.result, made.metadata or {}
    assert result is not None, "an upscale's result"
    segments = [s for s in record.get("segments") or () if isinstance(s, Mapping)]
    task_ids = [str(s["task_id"]) for s in segments if s.get("task_id")]
    paid = record.get("paid")
    if paid is None:  # a result handed back from the journal alone: paid by its first run
        paid = "0.00" if result.reused else str(result.cost)
    return {
        "task_id": result.task_id or None,
        "task_ids": task_ids or ([result.task_id] if result.task_id else []),
        "cost": str(result.cost),
        "paid": str(paid),
        "billed_seconds": result.billed_seconds,
        "segments": result.segments,
        "reused": result.reused,
        "provider": record.get("provider"),
        "model": record.get("model"),
        "source": str(source),
        "sidecar": None if result.sidecar is None else str(result.sidecar),
        "uprez_version": __version__,
    }


def _size(made: Artifact, output: Path) -> tuple[int, int]:
    """The result's picture size: from its sidecar record, else probed."""
    recorded = (made.metadata or {}).get("output")
    found = recorded.get("probe") if isinstance(recorded, Mapping) else None
    if isinstance(found, Mapping) and found.get("width") and found.get("height"):
        return int(found["width"]), int(found["height"])
    from uprez.media.remote import describe  # PyAV loads when a publish runs, not with the plugin

    source = made.path
    if "#" in output.name and isinstance(made.source, ImageSequence):
        from uprez.step.conforming import result_sequence

        source = result_sequence(output, made.source) or output
    info = describe(source)
    return info.width, info.height


def _rate(sequence: ImageSequence) -> float | None:
    return None if sequence.fps is None else float(sequence.fps)


def _colour(given: Any, made: Artifact, frames: bool) -> dict[str, Any] | None:
    """The result's ``colorspaceData``: the source's, copied; where the result is what the
    service saw (a movie, or frames a view transform could not bring back), the display and
    view it was made through, the display's colourspace as its colourspace (OCIO 2 configs name
    a display's colourspace as the display), as ayon-core's ExtractColorTranscode records a
    display/view conversion."""
    colour = copy.deepcopy(dict(given)) if isinstance(given, Mapping) else None
    record = (made.metadata or {}).get("master")
    proxy = record.get("proxy") if isinstance(record, Mapping) else None
    view = proxy.get("colour") if isinstance(proxy, Mapping) else None
    if not isinstance(view, Mapping) or (frames and view.get("invertible")):
        return colour  # display-referred frames, or brought back to the source's colourspace
    changed = colour or {}
    changed.update(colorspace=view.get("display"), display=view.get("display"))
    changed["view"] = view.get("view")
    if "config" not in changed and view.get("ocio_config"):
        changed["config"] = {"path": view.get("ocio_config")}
    return changed


def describe(representation: Mapping[str, Any]) -> str:
    """One line for the plugin's log."""
    facts = representation.get("data", {}).get("uprez", {})
    files = representation["files"]
    shown = files if isinstance(files, str) else facts.get("output") or f"{len(files)} frames"
    path = Path(str(representation["stagingDir"])) / str(shown)
    name = representation["name"]
    if facts.get("sidecar_of"):
        return f"added representation {name!r}: {path} (the sidecar of {facts['sidecar_of']!r})"
    return (
        f"added representation {name!r}: {path} "
        f"(task {facts.get('task_id')}, ${facts.get('cost')}, paid now ${facts.get('paid')})"
    )
