"""A grey picture drawn with ``bytes``, for generated test charts: text, rectangles, a Siemens
star, a fan of thin lines, line-pair blocks and zone-plate rings.

Whole rows are written with slice assignment and lookups with ``bytes.translate``, so drawing
stays fast in plain Python (no NumPy). Coordinates are pixels, (0, 0) at the top left; shapes
must lie inside the picture (only text is clipped, at the right edge).
"""

from __future__ import annotations

import math

from uprez.media.bitmap_font import text_mask

__all__ = ["Canvas", "ring_table", "zone_plate"]

#: The value a drawn line or text takes unless told otherwise.
INK = 235
_DARK = 16


class Canvas:
    """``width`` x ``height`` grey pixels (0-255), row after row, in :attr:`pixels`."""

    def __init__(self, width: int, height: int, fill: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray([fill]) * (width * height)

    def copy(self) -> Canvas:
        """Another canvas with the same pixels."""
        twin = Canvas.__new__(Canvas)
        twin.width, twin.height, twin.pixels = self.width, self.height, bytearray(self.pixels)
        return twin

    def row(self, y: int, pixels: bytes) -> None:
        """Replace row ``y`` with the first :attr:`width` of ``pixels``."""
        self.pixels[y * self.width : (y + 1) * self.width] = pixels[: self.width]

    def rect(self, x: int, y: int, width: int, height: int, value: int) -> None:
        """Fill a rectangle."""
        run = bytes([value]) * width
        for row in range(y, y + height):
            self.pixels[row * self.width + x : row * self.width + x + width] = run

    def text(self, text: str, x: int, y: int, scale: int, paper: int, ink: int = INK) -> None:
        """``text`` in the bitmap font, its top left corner at (x, y), ``scale`` pixels a dot,
        over a box of ``paper``; what passes the right edge is cut off."""
        width, _, rows = text_mask(text, scale)
        width = min(width, self.width - x)
        table = bytes([paper, ink]) + bytes(254)
        for dy, bits in enumerate(rows):
            start = (y + dy) * self.width + x
            self.pixels[start : start + width] = bits[:width].translate(table)

    def star(self, cx: int, cy: int, radius: int, core: int, spokes: int = 36) -> None:
        """A Siemens star: ``spokes`` light and dark wedges meeting at (cx, cy), with a plain
        grey disc of radius ``core`` where they are finer than a pixel."""
        for dy in range(-radius, radius + 1):
            half = math.isqrt(radius * radius - dy * dy)
            row = bytes(
                128 + round(100 * max(-1.0, min(1.0, 4 * math.cos(spokes * math.atan2(dy, dx)))))
                for dx in range(-half, half + 1)
            )
            start = (cy + dy) * self.width + cx
            self.pixels[start - half : start + half + 1] = row
        for dy in range(-core, core + 1):
            half = math.isqrt(core * core - dy * dy)
            start = (cy + dy) * self.width + cx
            self.pixels[start - half : start + half + 1] = bytes([128]) * (2 * half + 1)

    def fan(self, x: float, y: float, length: int, thickness: int) -> None:
        """Lines of ``thickness`` pixels from (x, y) up and to the right, every 6 degrees from
        3 to 87: every slope, so every kind of staircase an enlargement can make."""
        dot = bytes([INK]) * thickness
        for degrees in range(3, 90, 6):
            dx, dy = math.cos(math.radians(degrees)), -math.sin(math.radians(degrees))
            for step in range(length):
                px = round(x + step * dx) - thickness // 2
                py = round(y + step * dy) - thickness // 2
                for row in range(py, py + thickness):
                    self.pixels[row * self.width + px : row * self.width + px + thickness] = dot

    def line_pairs(self, x: int, y: int, size: int, period: int, dot: int) -> None:
        """A block ``size`` dots square of lines one dot (``dot`` pixels) wide, ``period`` dots
        apart: down the block's upper square, across a second one 4 dots below it."""
        across = bytes(INK if (dx // dot) % period == 0 else _DARK for dx in range(size * dot))
        lower = y + (size + 4) * dot
        for dy in range(size * dot):
            top = (y + dy) * self.width + x
            self.pixels[top : top + size * dot] = across
            value = INK if (dy // dot) % period == 0 else _DARK
            top = (lower + dy) * self.width + x
            self.pixels[top : top + size * dot] = bytes([value]) * (size * dot)

    def rings(self, cx: int, cy: int, plate: list[tuple[int, bytes]], table: bytes) -> None:
        """Paint a :func:`zone_plate` centred at (cx, cy), its phases turned to grey by
        ``table`` (see :func:`ring_table`)."""
        top = cy - len(plate) // 2
        for dy, (first, phases) in enumerate(plate):
            start = (top + dy) * self.width + cx + first
            self.pixels[start : start + len(phases)] = phases.translate(table)


def zone_plate(radius: int, rim_frequency: float) -> list[tuple[int, bytes]]:
    """A zone plate's phases (256 a turn), row by row of a disc of ``radius`` pixels, as
    (first column from the centre, phases). The phase grows with the square of the distance,
    so the rings' frequency rises from the centre to ``rim_frequency`` cycles a pixel at the
    rim (0.5 is the finest a picture holds)."""
    # The phase in turns is k·r², its frequency 2·k·r: rim_frequency at r = radius.
    steps = 256 * rim_frequency / (2 * radius)
    rows = []
    for dy in range(-radius, radius + 1):
        half = math.isqrt(radius * radius - dy * dy)
        phases = bytes(int((dx * dx + dy * dy) * steps) & 0xFF for dx in range(-half, half + 1))
        rows.append((-half, phases))
    return rows


def ring_table(phase: int) -> bytes:
    """A zone plate's phase -> grey, the rings moved on by ``phase`` of 256 steps a turn."""
    return bytes(128 + round(100 * math.cos(2 * math.pi * (i + phase) / 256)) for i in range(256))
