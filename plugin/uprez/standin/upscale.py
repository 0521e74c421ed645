"""Local upscaling: decode, resize with Lanczos, re-encode as H.264 in MP4 — a few frames at a time.

This is what the local stand-in service does instead of a neural upscaler. Frames stream through
decoder and scaler in one thread and the encoder in another, through a queue of a few frames, so
both cores stay busy and memory stays flat however long the video is. The output keeps the
source's frame count, frame rate, display rotation and every audio stream: audio that MP4 can
carry is copied untouched, anything else is re-encoded as AAC.

This module decides the output size and reports what was written; the frame pipeline itself is
:class:`~uprez.standin.upscale_job.UpscaleJob`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from fractions import Fraction

import av

from uprez.errors import MediaError
from uprez.media.audio import MP4_AUDIO_CODECS
from uprez.media.av_errors import AV_ERRORS
from uprez.media.geometry import fit_within
from uprez.media.probe import probe
from uprez.standin.learned import LearnedScaler
from uprez.standin.tamper import Tamper
from uprez.standin.upscale_job import ProgressCallback, UpscaleJob

__all__ = ["MP4_AUDIO_CODECS", "ProgressCallback", "UpscaleResult", "upscale_file"]


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpscaleResult:
    """What :func:`upscale_file` wrote."""

    width: int
    height: int
    frames: int
    """Video frames written: the source's frame count."""
    fps: Fraction
    """Frame rate of the output, the source's average frame rate."""
    audio_streams: int
    seconds: float
    """Wall-clock time the upscale took, in seconds."""


def upscale_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    max_size: tuple[int, int] = (3840, 2160),
    preset: str = "veryfast",
    crf: int = 18,
    threads: int = 0,
    progress: ProgressCallback | None = None,
    keep_audio: bool = True,
    mode: str = "lanczos",
    tamper: str | None = None,
) -> UpscaleResult:
    """Upscale the video at ``src`` into an H.264 MP4 at ``dst``.

    The picture is enlarged to the biggest even size with the same aspect ratio that fits
    ``max_size`` (see :func:`~uprez.media.geometry.fit_within`; the box turns with portrait
    video), and never shrunk. ``preset`` and ``crf`` are libx264's speed and quality controls;
    ``threads`` is the encoder's and scaler's thread count, 0 for automatic. ``progress``, if
    given, is called as ``progress(frames_done, frames_total)`` after every frame.

    ``keep_audio=False`` leaves the sound out (the local server's ``drop_audio`` fault), and
    ``tamper`` (``"black"``, ``"frozen"`` or ``"other"``) writes a wrong picture of the right
    size instead of the upscale (its ``black``, ``frozen`` and ``other`` faults; see
    :mod:`uprez.standin.tamper`).

    ``mode="learned"`` makes each frame's luma with a small CNN (see :mod:`uprez.standin.learned`;
    needs the ``learned`` extra) instead of Lanczos alone.

    ``dst`` is always written as MP4, whatever its extension, and in place: write to a temporary
    name and rename it if readers must never see a partial file.

    Raises:
        MediaError: ``src`` is not a readable video, or FFmpeg failed while converting it.
        ConfigError: ``mode`` is "learned" and pyanime4k is not installed.
        ValueError: ``max_size`` is not two positive integers, or ``mode`` or ``tamper`` is
            unknown.
    """
    if mode not in ("lanczos", "learned"):
        raise ValueError(f'mode must be "lanczos" or "learned", not {mode!r}')
    wrong = Tamper(tamper) if tamper is not None else None
    source = probe(src)
    target = os.fspath(dst)
    width, height = fit_within(source.width, source.height, *max_size)
    learned = None
    if mode == "learned":  # before any output exists: a missing package leaves no file behind
        learned = LearnedScaler((source.width, source.height), (width, height))
    log.info(
        "upscaling %s (%dx%d, %d frames at %s fps) to %s at %dx%d",
        source.path,
        source.width,
        source.height,
        source.frames,
        source.fps,
        target,
        width,
        height,
    )
    started = time.monotonic()
    try:
        with (
            av.open(source.path, metadata_errors="replace") as inp,
            av.open(target, "w", format="mp4") as out,
        ):
            job = UpscaleJob(
                inp, out, source, (width, height), preset, crf, threads, progress, learned, wrong
            )
            job.add_audio(keep_audio)
            frames = job.run()
    except MediaError:
        raise
    except AV_ERRORS as exc:
        raise MediaError(
            f"could not upscale {source.path} to {target}: {exc}", path=source.path
        ) from exc
    finally:
        if wrong is not None:
            wrong.close()
    elapsed = time.monotonic() - started
    if frames != source.frames:
        log.warning("%s: wrote %d frames, the source reports %d", target, frames, source.frames)
    log.info("wrote %s: %d frames in %.1f s", target, frames, elapsed)
    return UpscaleResult(
        width=width,
        height=height,
        frames=frames,
        fps=source.fps,
        audio_streams=source.audio_streams if keep_audio else 0,
        seconds=elapsed,
    )
