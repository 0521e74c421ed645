"""Checking a result against its source: size reached, frame rate and duration kept, and the
picture the source's (not black, frozen or another clip)."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from uprez.errors import MediaError
from uprez.media.geometry import fit_within, parse_size

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.probe import Probe
    from uprez.media.remote import Source
    from uprez.providers import Provider

log = logging.getLogger(__name__)


def target_box(config: Config, provider: Provider) -> tuple[int, int]:
    """The box a result must fill: ``verify.target_size``, else the one the provider says it
    delivers."""
    explicit = config.verify.target_size
    return parse_size(explicit) if explicit else provider.box


def mismatches(
    source: Probe, output: Probe, box: tuple[int, int], *, vfr: bool = False
) -> list[str]:
    """What differs between ``output`` and what it should be; empty when all is well.

    A variable-frame-rate source (``vfr``) has no one frame rate: its result has each frame at
    the source's own time, and its average rate may differ in the last digits by how the
    container counts the last frame's duration; within 1 % it is the same."""
    problems = []
    expected = fit_within(source.width, source.height, *box)
    if (output.width, output.height) != expected:
        problems.append(
            f"size {output.width}x{output.height}, expected {expected[0]}x{expected[1]}"
        )
    close = vfr and source.fps and abs(output.fps - source.fps) / source.fps < Fraction(1, 100)
    if output.fps != source.fps and not close:
        problems.append(f"frame rate {output.fps}, expected {source.fps}")
    if output.frames != source.frames:
        problems.append(f"{output.frames} frames, expected {source.frames}")
    frame = float(1 / source.fps) if source.fps else 0.0
    video_seconds = float(source.frames / source.fps) if source.fps else source.duration
    out_seconds = float(output.frames / output.fps) if output.fps else output.duration
    if abs(out_seconds - video_seconds) > frame + 1e-6:
        problems.append(f"duration {out_seconds:.3f} s, expected {video_seconds:.3f} s")
    if output.audio_streams < source.audio_streams:
        problems.append(f"{output.audio_streams} audio stream(s), expected {source.audio_streams}")
    return problems


def picture_problems(source: Source, expected: Probe, output: Probe, config: Config) -> list[str]:
    """What is wrong with the picture of ``output`` as an upscale of ``source`` (see
    :mod:`uprez.media.content`), with ``verify.content`` on; empty when all is well.

    A URL source is not read again for it, and a result with another frame count (already a
    mismatch) has no frames to pair with the source's: neither is compared.
    """
    if not config.verify.content:
        return []
    if not isinstance(source, Path):
        log.info("%s: the source is a URL; the picture is not compared with it", output.path)
        return []
    if output.frames != expected.frames:
        log.info("%s: another frame count; the picture is not compared", output.path)
        return []
    from uprez.media.content import content_problems  # PyAV

    try:
        return content_problems(
            source,
            output.path,
            samples=config.verify.samples,
            min_similarity=config.verify.min_similarity,
        )
    except MediaError as exc:
        if exc.path == output.path:
            return [f"its picture could not be decoded: {exc}"]
        log.warning("%s: the picture was not compared with its source: %s", output.path, exc)
        return []
