"""Small synthetic test clips: a moving colour pattern and an optional sine tone.

The clips are real, playable files written with FFmpeg (through PyAV), so they exercise the same
code paths as footage from a camera or a render farm. They are used by the tests and by
``uprez demo``.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from fractions import Fraction
from pathlib import Path

import av

from uprez.errors import MediaError

__all__ = ["make_clip"]

log = logging.getLogger(__name__)

_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_AUDIO_CHUNK = 1024
_TONE_HZ = 440.0


def _pattern(width: int, height: int, index: int) -> bytes:
    """One RGBA picture: colour bars sliding a few pixels per frame over a vertical gradient."""
    shift = index * 3
    row = bytearray(width * 4)
    for x in range(width):
        row[x * 4] = (((x + shift) // 8) % 6 * 51 + index * 5) & 0xFF
        row[x * 4 + 2] = ((x + shift) * 4) & 0xFF
        row[x * 4 + 3] = 0xFF
    rows = []
    for y in range(height):
        row[1::4] = bytes([y * 255 // max(height - 1, 1)]) * width
        rows.append(bytes(row))
    return b"".join(rows)


def _tone(start: int, count: int, rate: int) -> bytes:
    """``count`` signed 16-bit mono samples of a quiet sine tone, from sample ``start``."""
    step = 2.0 * math.pi * _TONE_HZ / rate
    samples = (int(8000 * math.sin(step * (start + i))) for i in range(count))
    return struct.pack(f"<{count}h", *samples)


def make_clip(
    path: str | os.PathLike[str],
    *,
    seconds: float = 1.0,
    fps: int | Fraction = 24,
    width: int = 64,
    height: int = 36,
    audio: bool = True,
    audio_rate: int = 48000,
    codec: str = "libx264",
    audio_codec: str = "aac",
    rotation: int = 0,
) -> str:
    """Write a small real video and return its path.

    The clip holds exactly ``round(seconds * fps)`` frames of a moving colour pattern (every frame
    differs) at ``fps`` frames per second, plus, when ``audio`` is true, ``seconds`` of a mono
    440 Hz tone encoded with ``audio_codec`` (AAC by default; ``"pcm_s16le"`` works in ``.mov``
    and ``.mkv``). The container follows the extension: ``.mp4``/``.m4v``, ``.mov`` or ``.mkv``.
    ``rotation`` (degrees, counter-clockwise) is stored as display-matrix metadata, as phones do.

    Raises:
        ValueError: an argument is out of range or the extension is not supported.
        MediaError: FFmpeg could not write the file.
    """
    target = os.fspath(path)
    suffix = Path(target).suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"unsupported clip extension {suffix!r}: use one of {sorted(_FORMATS)}")
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"clip size must be positive and even, not {width}x{height}")
    rate = Fraction(fps)
    frames = round(seconds * rate)
    if frames <= 0:
        raise ValueError(f"a clip of {seconds} s at {fps} fps would have no frames")
    try:
        _write(
            target,
            _FORMATS[suffix],
            frames,
            rate,
            width,
            height,
            codec,
            rotation,
            audio_rate if audio else 0,
            audio_codec,
            seconds,
        )
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"could not write test clip {target}: {exc}", path=target) from exc
    log.debug(
        "wrote %s: %d frames %dx%d at %s fps, audio=%s", target, frames, width, height, rate, audio
    )
    return target


def _write(
    target: str,
    fmt: str,
    frames: int,
    rate: Fraction,
    width: int,
    height: int,
    codec: str,
    rotation: int,
    audio_rate: int,
    audio_codec: str,
    seconds: float,
) -> None:
    with av.open(target, "w", format=fmt) as out:
        video = out.add_stream(codec, rate=rate)
        if not isinstance(video, av.VideoStream):
            raise ValueError(f"{codec!r} is not a video codec")
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        tone: av.AudioStream | None = None
        if audio_rate:
            stream = out.add_stream(audio_codec, rate=audio_rate)
            if not isinstance(stream, av.AudioStream):
                raise ValueError(f"{audio_codec!r} is not an audio codec")
            stream.layout = "mono"
            tone = stream

        step = 1 / rate
        for index in range(frames):
            rgba = av.VideoFrame.from_bytes(_pattern(width, height, index), width, height, "rgba")
            frame = rgba.reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = step
            out.mux(video.encode(frame))
        out.mux(video.encode(None))

        if tone is not None:
            total = round(seconds * audio_rate)
            for start in range(0, total, _AUDIO_CHUNK):
                count = min(_AUDIO_CHUNK, total - start)
                chunk = av.AudioFrame(format="s16", layout="mono", samples=count)
                chunk.planes[0].update(_tone(start, count, audio_rate))
                chunk.sample_rate = audio_rate
                chunk.pts = start
                chunk.time_base = Fraction(1, audio_rate)
                out.mux(tone.encode(chunk))
            out.mux(tone.encode(None))
