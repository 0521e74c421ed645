"""What each mode costs at the sizes the server really works at, on this machine.

The quality clips are small; here one 640x360 frame is enlarged to 1280x720 (one pass of the
network) and to 3840x2160 (the server's default box: two passes, then Lanczos), scaling only:
the server adds decoding and x264 encoding on top.
"""

from __future__ import annotations

import time

import av
import numpy as np

from benchmarks.quality.clips import photograph
from benchmarks.quality.methods import Upscaler, upscalers

SOURCE = (640, 360)
TARGETS = ((1280, 720), (3840, 2160))


def _frame() -> av.VideoFrame:
    image = np.ascontiguousarray(photograph("rocket")[: SOURCE[1], : SOURCE[0]])
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")


def speed_table(repeats: int) -> str:
    """Frames per second of lanczos and learned, best of ``repeats``, as a Markdown table."""
    frame = _frame()
    lines = [
        f"speed, one {SOURCE[0]}x{SOURCE[1]} frame enlarged (scaling only, best of {repeats}):",
        "",
        "| output | lanczos fps | learned fps |",
        "|---|---|---|",
    ]
    for target in TARGETS:
        methods = upscalers(SOURCE, target)
        cells = []
        for name in ("lanczos", "learned"):
            methods[name](frame, target)  # warm up
            best = min(_timed(methods[name], frame, target) for _ in range(repeats))
            cells.append(f"{1 / best:.1f}")
        lines.append(f"| {target[0]}x{target[1]} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def _timed(upscale: Upscaler, frame: av.VideoFrame, target: tuple[int, int]) -> float:
    began = time.perf_counter()
    upscale(frame, target)
    return time.perf_counter() - began
