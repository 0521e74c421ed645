"""Small grey pictures of video frames, and the measures the content check compares them by.

A 4K frame and its source frame cannot be compared pixel by pixel, but shrunk to the same few
thousand grey pixels (swscale's area average) they can, cheaply and in plain Python. A
:class:`Thumb` is such a picture, full-range luma (0 black, 255 white) in display orientation:
the file's display rotation is applied, so a result stored upright and its source stored
sideways with a rotation tag compare as the same picture.

The measures:

* :func:`similarity`: the structural similarity index (SSIM; Wang, Bovik, Sheikh, Simoncelli,
  2004) with its usual constants C1 = (0.01 x 255)^2 and C2 = (0.03 x 255)^2, computed on
  non-overlapping 8x8 blocks and averaged. 1 is the same picture; unrelated pictures score near
  0, a negative of each other below 0. The constants make flat blocks compare sanely: two flat
  blocks of the same grey score 1, a flat block against texture scores near 0.
* :func:`is_black`: FFmpeg's ``blackdetect`` rule with its defaults: at least 98% of the pixels
  no brighter than 10% of the range.
* :func:`difference`: the mean absolute difference in grey levels, to tell a picture standing
  still from one that moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

import av
from av.video.reformatter import ColorRange

__all__ = [
    "LONG_SIDE",
    "Thumb",
    "dark_share",
    "difference",
    "display_size",
    "is_black",
    "similarity",
    "thumb",
]

#: Longest side of a thumbnail in pixels: 96x54 for 16:9, ~5,000 pixels to compare.
LONG_SIDE = 96
_BLOCK = 8
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_BLACK_LEVEL = 25  # 10% of 255: blackdetect's pixel_black_th
_BLACK_SHARE = 0.98  # blackdetect's picture_black_ratio_th


@dataclass(frozen=True)
class Thumb:
    """A grey picture: ``width`` x ``height`` bytes, row after row, 0 black to 255 white."""

    width: int
    height: int
    pixels: bytes


def display_size(frame: av.VideoFrame, pixel_aspect: Fraction | None) -> tuple[int, int]:
    """The thumbnail size for pictures shaped like ``frame`` as shown: its display aspect
    (``pixel_aspect``, the stream's, and the rotation applied), the long side
    :data:`LONG_SIDE` (or the frame's own when smaller), both sides even and at least 8."""
    wide = frame.width * (pixel_aspect or Fraction(1))
    high = Fraction(frame.height)
    if _rotation(frame) in (90, 270):
        wide, high = high, wide
    long_side = min(LONG_SIDE, max(frame.width, frame.height))
    scale = long_side / max(wide, high)
    return _even(wide * scale), _even(high * scale)


def thumb(frame: av.VideoFrame, size: tuple[int, int]) -> Thumb:
    """``frame`` as a grey picture of ``size`` (width, height) in display orientation."""
    rotation = _rotation(frame)
    width, height = size if rotation in (0, 180) else (size[1], size[0])
    grey = frame.reformat(
        width=width,
        height=height,
        format="gray",
        interpolation="AREA",
        src_color_range=frame.color_range or ColorRange.MPEG,
        dst_color_range=ColorRange.JPEG,
    )
    plane = grey.planes[0]
    data = bytes(plane)
    stride = plane.line_size
    pixels = (
        data
        if stride == width
        else b"".join(data[row * stride : row * stride + width] for row in range(height))
    )
    return _rotated(Thumb(width, height, pixels), rotation)


def similarity(a: Thumb, b: Thumb) -> float:
    """Mean SSIM of the 8x8 blocks of two thumbnails of the same size (the last row and column
    of blocks take the remainder)."""
    if (a.width, a.height) != (b.width, b.height):
        raise ValueError(f"thumbnails differ in size: {a.width}x{a.height}, {b.width}x{b.height}")
    xs = _edges(a.width)
    ys = _edges(a.height)
    scores = [_ssim(a, b, x0, x1, y0, y1) for y0, y1 in pairwise(ys) for x0, x1 in pairwise(xs)]
    return sum(scores) / len(scores)


def is_black(picture: Thumb) -> bool:
    """Whether the picture is black, as FFmpeg's ``blackdetect`` judges it by default."""
    return dark_share(picture) >= _BLACK_SHARE


def dark_share(picture: Thumb) -> float:
    """The share of the picture's pixels no brighter than 10% of the range (0..1)."""
    return sum(1 for value in picture.pixels if value <= _BLACK_LEVEL) / len(picture.pixels)


def difference(a: Thumb, b: Thumb) -> float:
    """Mean absolute difference of two same-size thumbnails, in grey levels (0..255)."""
    return sum(abs(x - y) for x, y in zip(a.pixels, b.pixels, strict=True)) / len(a.pixels)


def _ssim(a: Thumb, b: Thumb, x0: int, x1: int, y0: int, y1: int) -> float:
    """SSIM of one block: means, variances and covariance of its pixels in both pictures."""
    sx = sy = sxx = syy = sxy = 0
    for row in range(y0, y1):
        start = row * a.width
        xa = a.pixels[start + x0 : start + x1]
        xb = b.pixels[start + x0 : start + x1]
        sx += sum(xa)
        sy += sum(xb)
        sxx += sum(v * v for v in xa)
        syy += sum(v * v for v in xb)
        sxy += sum(p * q for p, q in zip(xa, xb, strict=True))
    n = (x1 - x0) * (y1 - y0)
    mx, my = sx / n, sy / n
    vx, vy = sxx / n - mx * mx, syy / n - my * my
    cov = sxy / n - mx * my
    return ((2 * mx * my + _C1) * (2 * cov + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))


def _edges(length: int) -> list[int]:
    """Block boundaries along one side: every 8 pixels, the remainder joining the last block."""
    return [*range(0, length - _BLOCK + 1, _BLOCK), length]


def _rotation(frame: av.VideoFrame) -> int:
    """The frame's display rotation, counter-clockwise, as 0, 90, 180 or 270."""
    return round(float(frame.rotation or 0) / 90) % 4 * 90


def _rotated(picture: Thumb, rotation: int) -> Thumb:
    """``picture`` turned ``rotation`` degrees counter-clockwise (as a player shows it)."""
    w, h, p = picture.width, picture.height, picture.pixels
    if rotation == 0:
        return picture
    if rotation == 180:
        return Thumb(w, h, p[::-1])
    if rotation == 90:  # the last column becomes the first row
        return Thumb(h, w, bytes(p[y * w + x] for x in range(w - 1, -1, -1) for y in range(h)))
    return Thumb(h, w, bytes(p[y * w + x] for x in range(w) for y in range(h - 1, -1, -1)))


def _even(value: Fraction) -> int:
    return max(8, round(value / 2) * 2)
