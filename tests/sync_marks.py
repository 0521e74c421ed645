"""A clip to check sync with, and the finders of its marks: white flash frames and beeps.

:func:`make_vfr_sync` puts a flash and a beep at the same instants every second; after a
round trip (proxy, upscale, conform) a test compares the result's marks with each other (picture
and sound still in sync) and with the source's (frame timing kept). Times are seconds on the
file's own timeline (a frame's or sample's ``pts`` times its time base), as a player schedules
them; both finders decode one stream and nothing else.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from master_media import Track, add_track, container_format, picture, write_sound

__all__ = ["BEEP_HZ", "BEEP_SECONDS", "beep_times", "flash_times", "make_vfr_sync", "sync_times"]

log = logging.getLogger(__name__)

#: The beep of :func:`make_vfr_sync`: its pitch and length.
BEEP_HZ = 1000.0
BEEP_SECONDS = 0.1

#: A frame whose mean luma (0-255) is above this is a flash; the pattern stays far below.
FLASH_LUMA = 200
#: A sample louder than this starts a beep, when the sound was quieter for QUIET_SECONDS.
BEEP_LEVEL = 0.1
QUIET_SECONDS = 0.3


def make_vfr_sync(
    path: str | os.PathLike[str],
    *,
    seconds: int = 3,
    width: int = 160,
    height: int = 120,
    audio: Track | None = None,
    variant: int = 0,
) -> Path:
    """A variable-frame-rate H.264 clip (MP4 or MKV by the extension) with a white flash frame
    and a beep at the same instants, every second: at :func:`sync_times` (0.5, 1.5, 2.5 ...).

    Each second holds 25 frames: its first half at 30 fps, its second half at 20 fps, so frame
    durations alternate between 1/30 and 1/20 s (times on a 1/600 s clock; Matroska rounds them
    to milliseconds). The flash is the frame starting the 20 fps half (every pixel white); the
    beep a 1 kHz tone of :data:`BEEP_SECONDS` starting at the same time, on every channel, in
    otherwise silent sound (``audio``: AAC stereo by default). After a round trip, compare
    :func:`flash_times` and :func:`beep_times` of the result with each other (sync) and with the
    source's (timing kept).
    """
    target = Path(path)
    fmt = container_format(target, ("mp4", "matroska", "mov"))
    if seconds < 1:
        raise ValueError("a VFR sync clip lasts at least one second")
    track = audio or Track("stereo", "eng", "aac")
    clock = Fraction(1, 600)
    ticks = [
        s * 600 + t for s in range(seconds) for t in (*range(0, 300, 20), *range(300, 600, 30))
    ]
    flashes = {round(mark / clock) for mark in sync_times(seconds)}
    with av.open(str(target), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=25)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = clock
        video.options = {"preset": "ultrafast"}
        sound = add_track(out, track)
        for index, tick in enumerate(ticks):
            rgb = picture(width, height, index, variant=variant)
            if tick in flashes:
                rgb[:] = 255
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = tick, clock
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        channels = len(av.AudioLayout(track.layout).channels)
        starts = [round(mark * track.rate) for mark in sync_times(seconds)]
        length = round(BEEP_SECONDS * track.rate)

        def beeps(start: int, count: int) -> NDArray[np.float64]:
            index = np.arange(start, start + count)
            wave = np.zeros(count)
            for first in starts:
                on = (index >= first) & (index < first + length)
                wave += 0.5 * np.sin(2 * np.pi * BEEP_HZ * (index - first) / track.rate) * on
            return np.repeat(wave[:, None], channels, axis=1)

        write_sound(out, sound, track, float(seconds), beeps)
    log.debug("wrote %s: VFR sync clip of %d s", target, seconds)
    return target


def sync_times(seconds: int) -> list[float]:
    """Where :func:`make_vfr_sync` puts its flashes and beeps in a clip of ``seconds``."""
    return [second + 0.5 for second in range(seconds)]


def flash_times(path: str | os.PathLike[str]) -> list[float]:
    """The times of the white frames of the first video stream, ascending."""
    found: list[float] = []
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            luma = frame.reformat(width=64, height=36, format="gray").to_ndarray()
            if frame.time is not None and float(luma.mean()) > FLASH_LUMA:
                found.append(float(frame.time))
    return sorted(found)


def beep_times(path: str | os.PathLike[str], *, track: int = 0) -> list[float]:
    """When each beep starts in audio stream ``track`` (0: the first): the first sample above
    :data:`BEEP_LEVEL` after at least :data:`QUIET_SECONDS` of quieter sound (channels mixed)."""
    found: list[float] = []
    last_loud = -np.inf  # when the last loud sample was
    with av.open(os.fspath(path)) as container:
        stream = container.streams.audio[track]
        mono = av.AudioResampler(format="flt", layout="mono", rate=stream.rate)
        for decoded in container.decode(stream):
            for frame in mono.resample(decoded):
                if frame.time is None:
                    continue
                loud = np.flatnonzero(np.abs(frame.to_ndarray()[0]) > BEEP_LEVEL)
                times = float(frame.time) + loud / frame.sample_rate
                gaps = np.diff(np.concatenate([[last_loud], times]))
                found.extend(float(t) for t in times[gaps >= QUIET_SECONDS])
                if times.size:
                    last_loud = float(times[-1])
    return found
