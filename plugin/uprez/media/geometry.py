"""Output-size arithmetic: how big an upscaled video should be.

Everything here is plain integer arithmetic (exact fractions, no floats), so the same input always
gives the same size on every machine.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["fit_within", "parse_size"]

_SIZE = re.compile(r"^\s*(\d+)\s*[x]\s*(\d+)\s*$", re.IGNORECASE)


def _even_up(n: int) -> int:
    return n + (n % 2)


def _even_down(n: int) -> int:
    return n - (n % 2)


def fit_within(width: int, height: int, max_w: int, max_h: int) -> tuple[int, int]:
    """The largest even-sized frame with the input's aspect ratio that fits the box.

    The box follows the input's orientation: its long side is matched with the input's long side,
    so with a 3840x2160 box a landscape 1280x720 input becomes 3840x2160 and a portrait 720x1280
    input becomes 2160x3840. A 4:3 640x480 input becomes 2880x2160.

    The result is never smaller than the input: an input that already fills (or exceeds) the box
    keeps its size, only rounded up to even numbers, as H.264 in 4:2:0 requires. When scaling up,
    each side is rounded down to even, but never below the input's own side rounded up to even.

    >>> fit_within(1280, 720, 3840, 2160)
    (3840, 2160)
    >>> fit_within(720, 1280, 3840, 2160)
    (2160, 3840)
    >>> fit_within(4096, 2161, 3840, 2160)
    (4096, 2162)

    Raises:
        ValueError: a size is not a positive integer.
    """
    for name, value in (("width", width), ("height", height), ("max_w", max_w), ("max_h", max_h)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")

    long_side, short_side = max(max_w, max_h), min(max_w, max_h)
    box_w, box_h = (short_side, long_side) if height > width else (long_side, short_side)

    scale = min(Fraction(box_w, width), Fraction(box_h, height))
    min_w, min_h = _even_up(width), _even_up(height)
    if scale <= 1:
        return min_w, min_h
    out_w = max(_even_down(int(width * scale)), min_w)
    out_h = max(_even_down(int(height * scale)), min_h)
    return out_w, out_h


def parse_size(text: str) -> tuple[int, int]:
    """Read a ``WIDTHxHEIGHT`` size such as ``"3840x2160"``.

    Spaces around the numbers and an upper-case ``X`` are accepted.

    >>> parse_size("3840x2160")
    (3840, 2160)

    Raises:
        ValueError: the text is not two positive whole numbers joined by ``x``.
    """
    match = _SIZE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"invalid size {text!r}: expected WIDTHxHEIGHT, for example 3840x2160")
    width, height = int(match.group(1)), int(match.group(2))
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid size {text!r}: width and height must both be greater than 0")
    return width, height
