"""Checking a result against its source: size reached, frame rate and duration kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

from uprez.media.geometry import fit_within, parse_size

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.probe import Probe
    from uprez.providers import Provider


def target_box(config: Config, provider: Provider) -> tuple[int, int]:
    """The box a result must fill: ``verify.target_size``, else the one the provider says it
    delivers."""
    explicit = config.verify.target_size
    return parse_size(explicit) if explicit else provider.box


def mismatches(source: Probe, output: Probe, box: tuple[int, int]) -> list[str]:
    """What differs between ``output`` and what it should be; empty when all is well."""
    problems = []
    expected = fit_within(source.width, source.height, *box)
    if (output.width, output.height) != expected:
        problems.append(
            f"size {output.width}x{output.height}, expected {expected[0]}x{expected[1]}"
        )
    if output.fps != source.fps:
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
