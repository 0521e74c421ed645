"""Rendered image sequences on a pyblish instance: their frames, the edit's range and handles.

A representation whose ``files`` is a list of frame names (``ext`` exr, dpx, tif, tiff or png) in
its ``stagingDir`` is a rendered sequence: ayon-core's integrator (``integrate.py``) takes a list
for a sequence and a name for a single file. Which of its frames are upscaled follows ayon-core's
conventions (``pipeline/farm/pyblish_functions.py``, ``extract_review.py``):

* **the edit**: the instance's ``frameStart``..``frameEnd``, without handles; when the instance
  has none, the representation's own ``frameStart``..``frameEnd``, else the frames listed;
* **the handles**: the instance's ``handleStart``/``handleEnd``, else the context's (as
  ExtractReview reads them), else none. They are read only with the instance's own range: a
  representation's ``frameStart`` already includes them (it is the first file, ayon-core's
  ``frameStartHandle``);
* **the frame rate**: the representation's ``fps``, else the instance's (AYON sets it there),
  else the context's; with none, ``sequence.fps`` in the config, else the sequence is refused
  before anything is spent.

With ``pyblish.handles`` the frames ``frameStart - handleStart``..``frameEnd + handleEnd`` are
upscaled, else ``frameStart``..``frameEnd``, in both cases only frames that are listed: handles
that were not rendered are not invented (the take says which handles it holds). A frame missing
inside the range is refused before anything is spent, named.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.errors import InputError
from uprez.media.image_sequence import IMAGE_EXTENSIONS, ImageSequence, frame_ranges

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.step.prepare import Job

__all__ = [
    "Priced",
    "Rendered",
    "Take",
    "colour_config",
    "is_sequence_representation",
    "price_both",
    "rendered",
]


def is_sequence_representation(rep: Mapping[str, Any]) -> bool:
    """Whether ``rep`` lists the frames of an image sequence uprez takes."""
    ext = rep.get("ext")
    files = rep.get("files")
    return (
        isinstance(ext, str)
        and f".{ext.lstrip('.').lower()}" in IMAGE_EXTENSIONS
        and isinstance(files, list | tuple)
        and bool(files)
        and all(isinstance(name, str) for name in files)
    )


@dataclasses.dataclass(frozen=True)
class Take:
    """The frames one choice upscales: the sequence (with its frame rate), and the handles it
    holds at each end (0 when excluded, or not rendered)."""

    sequence: ImageSequence
    handle_start: int
    handle_end: int
    with_handles: bool

    @property
    def first(self) -> int:
        return self.sequence.first

    @property
    def last(self) -> int:
        return self.sequence.last

    def describe(self) -> str:
        """``48 frames 993-1040 (handles 8+8)``."""
        handles = f"handles {self.handle_start}+{self.handle_end}"
        return f"{self.sequence.count} frames {frame_ranges(self.sequence.numbers)} ({handles})"


@dataclasses.dataclass(frozen=True)
class Priced:
    """A take and what it costs."""

    take: Take
    cost: Decimal
    billed_seconds: int

    def to_json(self) -> dict[str, Any]:
        """As the representation's ``data["uprez"]["handles"]`` records it (JSON values)."""
        return {
            "frameStart": self.take.first,
            "frameEnd": self.take.last,
            "frames": self.take.sequence.count,
            "handleStart": self.take.handle_start,
            "handleEnd": self.take.handle_end,
            "cost": str(self.cost),
            "billed_seconds": self.billed_seconds,
        }


@dataclasses.dataclass(frozen=True)
class Rendered:
    """A rendered sequence found on an instance: every frame listed (at its frame rate), where
    it is staged, its representation, the edit's range and the handles around it."""

    sequence: ImageSequence
    staging_dir: Path
    representation: Mapping[str, Any]
    frame_start: int
    frame_end: int
    handle_start: int = 0
    handle_end: int = 0
    #: The frame rate as the pipeline gave it (25, 23.976), for the added representation.
    fps: Any = None

    def take(self, with_handles: bool) -> Take:
        """The frames listed in the edit's range, with its handles or without.

        Raises:
            InputError: no frame listed lies in that range.
        """
        before = self.handle_start if with_handles else 0
        after = self.handle_end if with_handles else 0
        chosen = self.sequence.subrange(self.frame_start - before, self.frame_end + after)
        return Take(
            chosen,
            max(0, min(before, self.frame_start - chosen.first)),
            max(0, min(after, chosen.last - self.frame_end)),
            with_handles,
        )


def rendered(
    rep: Mapping[str, Any], instance: Mapping[str, Any], context: Mapping[str, Any]
) -> Rendered:
    """The rendered sequence ``rep`` lists (see :func:`is_sequence_representation`), with the
    range, handles and frame rate of ``instance`` and ``context`` data.

    Raises:
        InputError: a frame listed is not in the staging dir, or the names listed are not the
            frames of one sequence.
    """
    from uprez.media.sequence import find_sequence  # reads the staging dir's names only

    staging = Path(str(rep.get("stagingDir") or instance.get("stagingDir") or ""))
    names = [str(name) for name in rep["files"]]
    found = find_sequence(staging / names[0])
    numbers = []
    for name in names:
        number = _number(found, name)
        if number is None:
            raise InputError(
                f"{staging / name} is not a frame of {found.name}: a representation's files "
                "must be the frames of one sequence",
                path=str(staging / name),
            )
        numbers.append(number)
    absent = sorted(set(numbers) - set(found.numbers))
    if absent:
        raise InputError(
            f"frames {frame_ranges(absent)} of {found} are listed but not in {staging}",
            path=str(found),
        )
    rate, given = _fps(rep, instance, context)
    sequence = dataclasses.replace(found, numbers=tuple(numbers), fps=rate)
    if _has_range(instance):
        first, last = int(instance["frameStart"]), int(instance["frameEnd"])
        handle_start = _handle(instance, context, "handleStart")
        handle_end = _handle(instance, context, "handleEnd")
    elif _has_range(rep):
        first, last, handle_start, handle_end = int(rep["frameStart"]), int(rep["frameEnd"]), 0, 0
    else:
        first, last, handle_start, handle_end = sequence.first, sequence.last, 0, 0
    return Rendered(sequence, staging, rep, first, last, handle_start, handle_end, given)


def _number(seq: ImageSequence, name: str) -> int | None:
    """The frame number ``name`` has in ``seq``, or None when it is not one of its names."""
    middle = name[len(seq.head) : len(name) - len(seq.tail)]
    if not (name.startswith(seq.head) and name.endswith(seq.tail) and middle):
        return None
    try:
        number = int(middle)
    except ValueError:
        return None
    return number if seq.frame_name(number) == name else None


def _has_range(data: Mapping[str, Any]) -> bool:
    return data.get("frameStart") is not None and data.get("frameEnd") is not None


def _handle(instance: Mapping[str, Any], context: Mapping[str, Any], key: str) -> int:
    # ExtractReview: both handles from the instance, else both from the context.
    if instance.get("handleStart") is not None and instance.get("handleEnd") is not None:
        return max(0, int(instance[key]))
    found = context.get(key)
    return max(0, int(found)) if found is not None else 0


def _fps(
    rep: Mapping[str, Any], instance: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[Fraction | None, Any]:
    """The frame rate, exact (23.976 as 24000/1001), and as the pipeline wrote it."""
    from uprez.config.sections import frame_rate

    for data in (rep, instance, context):
        given = data.get("fps")
        if given is None or isinstance(given, bool):
            continue
        try:
            rate = frame_rate(given)
        except (ValueError, ZeroDivisionError):
            continue
        if rate is not None and rate > 0:
            return rate, given
    return None, None


def price_both(
    rendered: Rendered, take: Take, jobs: Sequence[Job], config: Config, log: logging.Logger
) -> tuple[Priced, Priced] | None:
    """What ``take`` and the other choice (with handles, or without) cost, logged before
    anything is spent: ``(with handles, without)``. The take is priced by its job; the other
    choice is estimated here (probed and planned, nothing sent). None when no job upscales the
    take (the config's rules chose no upscale for it)."""
    from uprez.step.estimate import estimate

    job = next((j for j in jobs if j.artifact.path == take.sequence), None)
    if job is None:
        return None
    chosen = Priced(take, job.estimate.plan.cost, job.estimate.plan.billed_seconds)
    other_take = rendered.take(not take.with_handles)
    if other_take.sequence == take.sequence:
        other = dataclasses.replace(chosen, take=other_take)
    else:
        planned = estimate(other_take.sequence, config, max_bytes=job.estimate.max_bytes).plan
        other = Priced(other_take, planned.cost, planned.billed_seconds)
    with_handles, without = (chosen, other) if take.with_handles else (other, chosen)
    log.info(
        "%s: with handles %s: $%s (%d s billed); without: %s: $%s (%d s billed); "
        "upscaling %s (pyblish.handles = %s)",
        rendered.sequence,
        with_handles.take.describe(),
        with_handles.cost,
        with_handles.billed_seconds,
        without.take.describe(),
        without.cost,
        without.billed_seconds,
        "with handles" if take.with_handles else "without handles",
        str(take.with_handles).lower(),
    )
    return with_handles, without


def colour_config(config: Config, found: Sequence[Rendered]) -> Config:
    """``config`` with the colourspace the pipeline gives its rendered frames: the first
    sequence's ``colorspaceData`` names the source colourspace (``colour.scene_linear``) and
    its OCIO config (``colour.config``), each where the uprez config leaves it unset; the
    config only when ``$OCIO`` is unset and the file is there (a studio's OCIO config is
    usually ``$OCIO`` already, on every machine). A frame's own colourspace attribute still
    comes first."""
    data = next(
        (
            f.representation["colorspaceData"]
            for f in found
            if isinstance(f.representation.get("colorspaceData"), Mapping)
        ),
        None,
    )
    if data is None:
        return config
    colour = dict(config.data.get("colour") or {})
    named = data.get("colorspace")
    if named and not colour.get("scene_linear"):
        colour["scene_linear"] = str(named)
    ocio = data.get("config")
    path = ocio.get("path") if isinstance(ocio, Mapping) else None
    if path and not colour.get("config") and not os.environ.get("OCIO") and Path(path).is_file():
        colour["config"] = str(path)
    if colour == (config.data.get("colour") or {}):
        return config
    return dataclasses.replace(config, data={**config.data, "colour": colour})
