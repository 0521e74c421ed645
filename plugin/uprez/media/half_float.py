"""Half-float frames made single-float, exactly.

FFmpeg 8's EXR decoder gives a half-float EXR as ``gbrpf16le`` (``gbrapf16le`` with alpha,
``grayf16le`` grey). PyAV cannot make an array of those, and swscale's conversion to
``gbrpf32le`` goes through 16-bit integers: it clamps to 0..1 (a scene-linear highlight of 4.0
comes out as 1.0) and moves values inside that range too (0.25 comes out 0.2498). FFmpeg's EXR
encoder takes only 32-bit float input. So half frames are widened here with NumPy, which is
exact (every half value is a float value), plane by plane, keeping the frame's colour tags.

NumPy is needed for this only (``pip install 'uprez[sequences]'``).
"""

from __future__ import annotations

import re
from typing import Any

import av

from uprez.errors import MediaError

__all__ = ["is_float_format", "require_numpy", "to_float32", "widened_format"]

_WIDER = {"gbrpf16le": "gbrpf32le", "gbrapf16le": "gbrapf32le", "grayf16le": "grayf32le"}
_FLOAT = re.compile(r"f(16|32)(le|be)?$")


def is_float_format(pix_fmt: str) -> bool:
    """Whether FFmpeg's pixel format ``pix_fmt`` holds floating-point samples."""
    return _FLOAT.search(pix_fmt) is not None


def widened_format(pix_fmt: str) -> str:
    """The pixel format :func:`to_float32` makes of ``pix_fmt`` (itself when not half)."""
    return _WIDER.get(pix_fmt, pix_fmt)


def to_float32(frame: av.VideoFrame) -> av.VideoFrame:
    """``frame`` with 32-bit float planes if it is a planar half-float frame (a new frame, the
    same values, pts, time base and colour tags); any other frame as it is."""
    wider = _WIDER.get(frame.format.name)
    if wider is None:
        return frame
    np = require_numpy()
    out = av.VideoFrame(frame.width, frame.height, wider)
    for source, target in zip(frame.planes, out.planes, strict=True):
        half = np.frombuffer(source, np.float16).reshape(frame.height, source.line_size // 2)
        # Written straight into the new frame's plane: one pass, no array in between.
        wide = np.frombuffer(target, np.float32).reshape(frame.height, target.line_size // 4)
        np.copyto(wide[:, : frame.width], half[:, : frame.width], casting="same_kind")
    out.pts = frame.pts
    if frame.time_base is not None:
        out.time_base = frame.time_base
    out.color_trc, out.color_primaries = frame.color_trc, frame.color_primaries
    out.colorspace, out.color_range = frame.colorspace, frame.color_range
    return out


def require_numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:  # pragma: no cover - numpy is in the sequences extra
        raise MediaError(
            "half-float EXR frames need NumPy to be read exactly: pip install 'uprez[sequences]'"
        ) from exc
    return numpy
