"""A frame in the pixel format a frame file is written in, converted exactly (NumPy, not swscale).

swscale, FFmpeg's converter, is built for video: measured with FFmpeg 8, float to 10-bit is one
code off for ~46% of values, float to 8-bit for ~49%, 16-bit to float up to 3 codes off, and
dropping the alpha plane of a float frame clamps it to 0..1 (a highlight of 5.0 becomes 1.0).
A rendered frame written back must hold what was given: so RGB, grey and float frames are
converted here as arrays: floats to integers by rounding the clamped value to the nearest code,
integers between depths by rescaling and rounding, alpha dropped or made opaque, grey spread to
RGB. Only a frame in another family (YUV from a movie) goes through swscale first, to float, by
its own colour tags (BT.709 video range when it has none).
"""

from __future__ import annotations

from typing import Any

import av

from uprez.media.half_float import require_numpy, to_float32

__all__ = ["convert_frame", "round_to_half"]

# Integer formats PyAV turns into arrays and back, with their bits per channel.
_INTEGER_BITS = {
    "rgb24": 8,
    "rgba": 8,
    "gray": 8,
    "rgb48le": 16,
    "rgb48be": 16,
    "rgba64le": 16,
    "rgba64be": 16,
    "gray16le": 16,
    "gray16be": 16,
    "gbrp10le": 10,
    "gbrp10be": 10,
    "gbrap10le": 10,
    "gbrp12le": 12,
    "gbrp12be": 12,
    "gbrp16le": 16,
}
_FLOATS = frozenset({"gbrpf32le", "gbrapf32le", "grayf32le"})
_DROPPED = 23 - 10  # mantissa bits a float has that a half has not
_UNSPECIFIED_SPACE, _UNSPECIFIED_RANGE = 2, 0  # FFmpeg's AVColorSpace and AVColorRange


def convert_frame(frame: av.VideoFrame, pix_fmt: str) -> av.VideoFrame:
    """``frame`` in ``pix_fmt`` (one of the RGB, grey or float formats frame files are written
    in), its values kept as exactly as the target's depth allows; pts and time base kept.

    Raises:
        ValueError: ``pix_fmt`` is not one this module writes.
    """
    if frame.format.name == pix_fmt:
        return frame
    if pix_fmt not in _INTEGER_BITS and pix_fmt not in _FLOATS:
        raise ValueError(f"frames are not converted to {pix_fmt}")
    np = require_numpy()
    values, top = _values(frame)
    values = _channels(np, values, _channel_count(pix_fmt), top)
    if pix_fmt in _FLOATS:
        out_values = values.astype(np.float32) if top is None else values / np.float32(top)
    else:
        target_top = (1 << _INTEGER_BITS[pix_fmt]) - 1
        if top is None:
            scaled = np.rint(np.clip(values, 0.0, 1.0) * np.float32(target_top))
        elif top == target_top:
            scaled = values
        else:
            scaled = np.rint(values.astype(np.float64) * (target_top / top))
        out_values = scaled.astype(np.uint8 if target_top == 255 else np.uint16)
    out = av.VideoFrame.from_ndarray(np.ascontiguousarray(out_values), format=pix_fmt)
    out.pts = frame.pts
    if frame.time_base is not None:
        out.time_base = frame.time_base
    return out


def round_to_half(frame: av.VideoFrame) -> av.VideoFrame:
    """A float frame's values rounded to the nearest half float, ties to even (a new frame).

    FFmpeg's EXR encoder truncates each float to a half (towards zero), up to twice the error
    of rounding to the nearest; given values a half holds exactly, it writes them unchanged.
    The rounding is done on the floats' bits (their 23-bit mantissa to a half's 10 bits): NumPy's
    own float-to-half conversion takes ~0.6 s for a 4K frame, this ~40 ms. Below a half's
    smallest normal value (6.1e-5) a half holds fewer bits and the encoder truncates the rest:
    an error under 6e-8."""
    np = require_numpy()
    out = av.VideoFrame(frame.width, frame.height, frame.format.name)
    for source, target in zip(frame.planes, out.planes, strict=True):
        bits = np.frombuffer(source, np.uint32)
        rounded = np.frombuffer(target, np.uint32)
        np.right_shift(bits, _DROPPED, out=rounded)
        np.bitwise_and(rounded, 1, out=rounded)  # the last kept bit: ties go to even
        rounded += bits
        rounded += (1 << (_DROPPED - 1)) - 1
        rounded &= ~np.uint32((1 << _DROPPED) - 1)
    out.pts = frame.pts
    if frame.time_base is not None:
        out.time_base = frame.time_base
    return out


def _values(frame: av.VideoFrame) -> tuple[Any, int | None]:
    """The frame as an array (H, W) or (H, W, C) in R, G, B(, A) order, and the full-scale
    code of its integers (None: floats)."""
    frame = to_float32(frame)
    name = frame.format.name
    if name in _FLOATS:
        return frame.to_ndarray(), None
    if name in _INTEGER_BITS:
        return frame.to_ndarray(), (1 << _INTEGER_BITS[name]) - 1
    alpha = any(c.is_alpha for c in frame.format.components)
    # An untagged picture from a movie is HD or larger (the service's result): BT.709 in
    # video range. swscale would take it for BT.601, and shift every colour.
    space = "ITU709" if frame.colorspace == _UNSPECIFIED_SPACE else None
    video_range = "MPEG" if frame.color_range == _UNSPECIFIED_RANGE else None
    floats = frame.reformat(
        format="gbrapf32le" if alpha else "gbrpf32le",
        src_colorspace=space,
        src_color_range=video_range,
    )
    return floats.to_ndarray(), None


def _channel_count(pix_fmt: str) -> int:
    if pix_fmt.startswith("gray"):
        return 1
    return 4 if pix_fmt.startswith(("rgba", "gbrap")) else 3


def _channels(np: Any, values: Any, wanted: int, top: int | None) -> Any:
    """``values`` with ``wanted`` channels: alpha dropped or added opaque, grey spread to RGB."""
    have = 1 if values.ndim == 2 else values.shape[2]
    if have == wanted:
        return values
    if wanted == 1:
        raise ValueError("a colour frame is not written as grey")
    if have == 1:
        values = np.repeat(values[:, :, None], 3, axis=2)
    elif have == 4:
        values = values[:, :, :3]
    if wanted == 4:
        opaque = np.full((*values.shape[:2], 1), 1.0 if top is None else top, values.dtype)
        values = np.concatenate([values, opaque], axis=2)
    return values
