"""The representations ``ExtractUpscale`` adds, shaped for what an integrator keeps.

ayon-core's ``IntegrateAsset`` (``client/ayon_core/plugins/publish/integrate.py``) stores of a
representation its ``name``, its file(s), the keys of ``repre["data"]`` (those that are
representation attributes on the server, such as ``resolutionWidth``, as attributes; the
rest as data) and ``colorspaceData``; ``resolutionWidth``/``resolutionHeight``, ``fps`` and
``outputName`` on the representation (else on the instance) fill its path template. Tags and
any other key are dropped. So what uprez knows of a result goes under
``repre["data"]["uprez"]``, the 4K size both on the representation and in its data, and the
source's ``colorspaceData`` is copied (the picture is the source's, larger).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from uprez.config import Config
from uprez.records import Artifact
from uprez.version import __version__

from .pyblish_movies import Movie, free_name

log = logging.getLogger(__name__)

#: Keys copied from a source representation to its 4K one (the result keeps its timing).
COPIED_KEYS = ("fps", "frameStart", "frameEnd")


def added_for(
    movie: Movie, made: Artifact, config: Config, taken: set[str]
) -> list[dict[str, Any]]:
    """The 4K representation of ``made`` (the result of ``movie``), and its sidecar's when
    there is one; their names are taken from ``taken`` (``4k``, ``4k_2``...)."""
    settings = config.pyblish
    name = free_name(settings.representation, taken)
    output = made.path
    assert isinstance(output, Path), "a result is a file"
    width, height = _size(made, output)
    facts = _facts(movie, made)
    representation: dict[str, Any] = {
        "name": name,
        "ext": output.suffix.lstrip(".") or "mp4",
        "files": output.name,
        "stagingDir": str(output.parent),
        "tags": [settings.tag],
        "outputName": name,
        "resolutionWidth": width,
        "resolutionHeight": height,
        "data": {"uprez": facts, "resolutionWidth": width, "resolutionHeight": height},
    }
    source = movie.representation or {}
    for key in COPIED_KEYS:
        if key in source:
            representation[key] = source[key]
    if source.get("colorspaceData"):
        representation["colorspaceData"] = copy.deepcopy(source["colorspaceData"])
    added = [representation]
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


def _facts(movie: Movie, made: Artifact) -> dict[str, Any]:
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
        "source": str(movie.path),
        "sidecar": None if result.sidecar is None else str(result.sidecar),
        "uprez_version": __version__,
    }


def _size(made: Artifact, output: Path) -> tuple[int, int]:
    """The result's picture size: from its sidecar record, else probed."""
    recorded = (made.metadata or {}).get("output")
    found = recorded.get("probe") if isinstance(recorded, Mapping) else None
    if isinstance(found, Mapping) and found.get("width") and found.get("height"):
        return int(found["width"]), int(found["height"])
    from uprez.media.probe import probe  # PyAV loads when a publish runs, not with the plugin

    info = probe(output)
    return info.width, info.height


def describe(representation: Mapping[str, Any]) -> str:
    """One line for the plugin's log."""
    facts = representation.get("data", {}).get("uprez", {})
    path = Path(str(representation["stagingDir"])) / str(representation["files"])
    name = representation["name"]
    if facts.get("sidecar_of"):
        return f"added representation {name!r}: {path} (the sidecar of {facts['sidecar_of']!r})"
    return (
        f"added representation {name!r}: {path} "
        f"(task {facts.get('task_id')}, ${facts.get('cost')}, paid now ${facts.get('paid')})"
    )
