"""The comparison picture: the same detail as the shrunken source, Lanczos, learned, reference.

One row per scale. The crop is the square of the reference with the most edges (where methods
differ most), and every panel is enlarged by nearest neighbour so that pixels stay pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

_CROP = 64  # reference pixels per side
_ZOOM = 5  # screen pixels per reference pixel
_LABEL = 30  # height of the caption strip


@dataclass(frozen=True)
class Row:
    """One scale's panels, all as 8-bit RGB at the reference size except ``source``."""

    factor: int
    source: NDArray[np.uint8]
    lanczos: NDArray[np.uint8]
    learned: NDArray[np.uint8]
    reference: NDArray[np.uint8]


def busiest_square(luma: NDArray[np.uint8], side: int) -> tuple[int, int]:
    """Top-left corner (row, column) of the ``side``-square with the most gradient energy."""
    plane = luma.astype(np.float64)
    energy = np.zeros_like(plane)
    energy[:, 1:] += np.abs(np.diff(plane, axis=1))
    energy[1:, :] += np.abs(np.diff(plane, axis=0))
    sums = energy.cumsum(axis=0).cumsum(axis=1)
    sums = np.pad(sums, ((1, 0), (1, 0)))
    boxes = sums[side:, side:] - sums[:-side, side:] - sums[side:, :-side] + sums[:-side, :-side]
    row, column = np.unravel_index(int(np.argmax(boxes)), boxes.shape)
    return int(row), int(column)


def write(path: Path, rows: list[Row], corner: tuple[int, int]) -> None:
    """Write the picture as PNG: per row, source (nearest), lanczos, learned, reference."""
    from PIL import Image, ImageDraw

    top, left = corner
    panel = _CROP * _ZOOM
    names = ("source (nearest)", "lanczos", "learned", "reference")
    canvas = Image.new("RGB", (panel * 4, (panel + _LABEL) * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for index, row in enumerate(rows):
        f = row.factor
        small = row.source[top // f : (top + _CROP) // f, left // f : (left + _CROP) // f]
        crops = [
            np.repeat(np.repeat(small, f * _ZOOM, axis=0), f * _ZOOM, axis=1),
            *(
                np.repeat(
                    np.repeat(full[top : top + _CROP, left : left + _CROP], _ZOOM, 0), _ZOOM, 1
                )
                for full in (row.lanczos, row.learned, row.reference)
            ),
        ]
        y = index * (panel + _LABEL)
        for column, (name, crop) in enumerate(zip(names, crops, strict=True)):
            canvas.paste(Image.fromarray(np.ascontiguousarray(crop)), (column * panel, y + _LABEL))
            caption = f"x{f} {name}" if column == 0 else name
            draw.text((column * panel + 8, y + 6), caption, fill="black", font_size=18)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
