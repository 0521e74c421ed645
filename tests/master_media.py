"""What the master fixtures are made of: the moving pattern, its alpha, and sound tracks.

Shared by :mod:`masters` (the makers) and :mod:`sync_marks` (the flash-and-beep clip); tests use
:func:`picture` and :class:`Track` through :mod:`masters`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FORMATS",
    "Track",
    "add_track",
    "container_format",
    "picture",
    "pictures",
    "write_sound",
]

#: The containers a maker picks from the path's extension.
FORMATS = {".mov": "mov", ".mp4": "mp4", ".mkv": "matroska", ".mxf": "mxf"}

#: Sample format PyAV's audio frames carry for each PCM/AAC encoder.
_SAMPLE_FORMATS = {"pcm_s16le": "s16", "pcm_s24le": "s32", "pcm_s32le": "s32", "aac": "fltp"}


@dataclass(frozen=True)
class Track:
    """One audio track of a master: its channel layout (FFmpeg's name), language, codec, rate."""

    layout: str = "stereo"
    language: str | None = None
    codec: str = "pcm_s24le"
    rate: int = 48000


def container_format(path: Path, allowed: tuple[str, ...] | None = None) -> str:
    """FFmpeg's muxer for ``path``'s extension (one of :data:`FORMATS`), refused with
    ValueError when unknown or not in ``allowed``."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None or (allowed is not None and fmt not in allowed):
        known = sorted(e for e, f in FORMATS.items() if allowed is None or f in allowed)
        raise ValueError(f"unsupported extension {path.suffix!r}: use one of {known}")
    return fmt


# -- pictures --------------------------------------------------------------------------------------


def picture(width: int, height: int, index: int, *, variant: int = 0) -> NDArray[np.uint8]:
    """Frame ``index`` of the moving pattern, as an RGB array of shape (height, width, 3).

    Diagonal stripes slide 3 pixels a frame over a gradient and a grey box crosses the picture;
    ``variant`` changes the stripes' slope, period and colours, so clips of two variants differ
    everywhere. No pixel is brighter than 220, so a white flash frame stands out.
    """
    y, x = np.mgrid[0:height, 0:width]
    period = 8 + 4 * (variant % 3)
    stripes = ((x + (1 + variant % 4) * y + 3 * index) // period) % 2
    red = (x * 160 // max(width - 1, 1)).astype(np.uint8)
    green = (y * 160 // max(height - 1, 1)).astype(np.uint8)
    blue = np.full((height, width), 40 + 30 * (variant % 5), np.uint8)
    rgb = np.stack([red, green, blue], axis=-1)
    rgb[stripes == 1] = (60 + 20 * (variant % 7), 40, 200 - 25 * (variant % 5))
    side = max(4, min(width, height) // 4)
    left = (index * 5) % max(1, width - side)
    top = (index * 2) % max(1, height - side)
    rgb[top : top + side, left : left + side] = 220
    return rgb


def _alpha(width: int, height: int, index: int) -> NDArray[np.uint8]:
    """An opaque disc that moves right 4 pixels a frame on a transparent ground."""
    y, x = np.mgrid[0:height, 0:width]
    radius = min(width, height) // 3
    cx, cy = (radius + index * 4) % width, height // 2
    inside = (x - cx) ** 2 + (y - cy) ** 2 <= radius**2
    return np.where(inside, 255, 0).astype(np.uint8)


def pictures(
    width: int, height: int, count: int, pix_fmt: str, *, alpha: bool, variant: int
) -> Iterator[av.VideoFrame]:
    """``count`` frames of the pattern in ``pix_fmt``; with ``alpha``, its alpha is a moving
    disc (``pix_fmt`` must have an alpha plane to keep it)."""
    for index in range(count):
        rgb = picture(width, height, index, variant=variant)
        if alpha:
            rgba = np.dstack([rgb, _alpha(width, height, index)])
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba")
        else:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        yield frame.reformat(format=pix_fmt)


# -- sound -----------------------------------------------------------------------------------------


def _tone(
    rate: int, samples: int, channels: int, start: int, base_hz: float
) -> NDArray[np.float64]:
    """A quiet sine per channel (each channel its own pitch), shape (samples, channels)."""
    t = (np.arange(samples) + start)[:, None] / rate
    pitches = base_hz * (1 + np.arange(channels)[None, :] * 0.25)
    return 0.2 * np.sin(2 * np.pi * pitches * t)


def _audio_frame(signal: NDArray[np.float64], track: Track, start: int) -> av.AudioFrame:
    """``signal`` (samples, channels) in [-1, 1] as a frame the track's encoder takes."""
    fmt = _SAMPLE_FORMATS[track.codec]
    if fmt == "fltp":
        array: NDArray[np.generic] = np.ascontiguousarray(signal.T.astype(np.float32))
    elif fmt == "s16":
        array = (signal * 32767).astype(np.int16).reshape(1, -1)
    else:
        array = (signal * 2147483392).astype(np.int32).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(array, format=fmt, layout=track.layout)
    frame.sample_rate = track.rate
    frame.pts = start
    frame.time_base = Fraction(1, track.rate)
    return frame


def add_track(out: av.container.OutputContainer, track: Track) -> av.AudioStream:
    stream = out.add_stream(track.codec, rate=track.rate, layout=track.layout)
    assert isinstance(stream, av.AudioStream)
    if track.language:
        stream.metadata["language"] = track.language
    return stream


def write_sound(
    out: av.container.OutputContainer,
    stream: av.AudioStream,
    track: Track,
    seconds: float,
    make: Callable[[int, int], NDArray[np.float64]] | None = None,
) -> None:
    """Encode ``seconds`` of sound into ``stream``: a tone per channel, or ``make(start, count)``
    (a (count, channels) array) when given."""
    channels = len(av.AudioLayout(track.layout).channels)
    total = round(seconds * track.rate)
    chunk = 1024
    for start in range(0, total, chunk):
        count = min(chunk, total - start)
        if make is not None:
            signal = make(start, count)
        else:
            signal = _tone(track.rate, count, channels, start, 330.0)
        out.mux(stream.encode(_audio_frame(signal, track, start)))
    out.mux(stream.encode(None))
