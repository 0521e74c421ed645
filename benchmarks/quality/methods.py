"""The contenders: the same shrink for every clip, then three ways back to the reference size.

``lanczos`` and ``learned`` are the local server's two modes, run through the server's own code
path (swscale's Lanczos into yuv420p; :class:`uprez.standin.learned.LearnedScaler` on top of it);
``bicubic`` is swscale's default resize, the floor most tools give.
"""

from __future__ import annotations

from collections.abc import Callable

import av
from av.video.reformatter import ColorRange

from uprez.standin.learned import LearnedScaler

#: A way to enlarge a frame to (width, height).
Upscaler = Callable[[av.VideoFrame, tuple[int, int]], av.VideoFrame]

METHODS = ("bicubic", "lanczos", "learned")


def shrink(frame: av.VideoFrame, factor: int) -> av.VideoFrame:
    """The frame ``factor`` times smaller by an area (box) filter: the low-resolution source."""
    return frame.reformat(
        frame.width // factor, frame.height // factor, format="yuv420p", interpolation="AREA"
    )


def swscale(interpolation: str) -> Upscaler:
    """An upscaler that is one swscale resize, as the server's ``lanczos`` mode does it."""

    def upscale(frame: av.VideoFrame, size: tuple[int, int]) -> av.VideoFrame:
        return frame.reformat(
            *size,
            format="yuv420p",
            interpolation=interpolation,
            src_color_range=frame.color_range,
            dst_color_range=ColorRange.MPEG,
        )

    return upscale


def learned(source: tuple[int, int], target: tuple[int, int]) -> Upscaler:
    """The server's ``learned`` mode for frames of ``source`` size enlarged to ``target``."""
    scaler = LearnedScaler(source, target)
    lanczos = swscale("LANCZOS")

    def upscale(frame: av.VideoFrame, size: tuple[int, int]) -> av.VideoFrame:
        return scaler.refine(frame, lanczos(frame, size))

    return upscale


def upscalers(source: tuple[int, int], target: tuple[int, int]) -> dict[str, Upscaler]:
    """Every method, ready for frames of ``source`` size, in :data:`METHODS` order."""
    return {
        "bicubic": swscale("BICUBIC"),
        "lanczos": swscale("LANCZOS"),
        "learned": learned(source, target),
    }
