"""Wrong pictures on purpose: what a faulty service might send back instead of the upscale.

The local server's ``black``, ``frozen`` and ``other`` faults (see :mod:`uprez.standin.faults`)
replace each upscaled frame by one of these. Size, frame count, frame rate and sound stay
right, so only a check of the picture itself (:mod:`uprez.media.content`) can tell.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import av
from av.video.reformatter import ColorRange

from uprez.standin.faults import PICTURE_KINDS

__all__ = ["KINDS", "Tamper"]

#: The pictures a :class:`Tamper` can make: the local server's picture faults.
KINDS = PICTURE_KINDS
# Black and grey in limited-range YUV: luma, then the two chroma planes.
_BLACK = (16, 128, 128)
# Another clip: Conway's game of life, made at a quarter of the size (a 4K board is slow) and
# enlarged: it moves every frame and looks like nothing a source shows.
_OTHER = "life=size={w}x{h}:rate=25:seed=1:mold=10:ratio=0.3"


class Tamper:
    """Replaces each scaled yuv420p frame by a ``kind`` picture of the same size:

    * ``black``: black;
    * ``frozen``: the first frame, again and again;
    * ``other``: a frame of another clip (a game of life).

    Each call returns a new frame (the caller stamps its time on it).
    """

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown picture fault {kind!r}; known: {sorted(KINDS)}")
        self.kind = kind
        self._first: list[bytes] | None = None
        self._other: Iterator[av.VideoFrame] | None = None
        self._container: av.container.InputContainer | None = None

    def __call__(self, scaled: av.VideoFrame) -> av.VideoFrame:
        if self.kind == "other":
            return self._another(scaled.width, scaled.height)
        if self.kind == "frozen" and self._first is None:
            self._first = [_packed(plane) for plane in scaled.planes]
        frame = av.VideoFrame(scaled.width, scaled.height, "yuv420p")
        frame.color_range = ColorRange.MPEG
        for index, plane in enumerate(frame.planes):
            if self._first is not None:
                _unpack(self._first[index], plane)
            else:
                plane.update(bytes([_BLACK[index]]) * plane.buffer_size)
        return frame

    def close(self) -> None:
        """Close the other clip's generator, if one was opened."""
        if self._container is not None:
            self._container.close()

    def _another(self, width: int, height: int) -> av.VideoFrame:
        if self._other is None:
            small = _OTHER.format(w=max(width // 4, 8), h=max(height // 4, 8))
            self._container = av.open(small, format="lavfi")
            self._other = self._container.decode(video=0)
        board = next(self._other)
        return board.reformat(
            width=width, height=height, format="yuv420p", dst_color_range=ColorRange.MPEG
        )


def _packed(plane: av.video.plane.VideoPlane) -> bytes:
    """A plane's pixels without the padding at the end of each line."""
    data = bytes(plane)
    if plane.line_size == plane.width:
        return data
    lines = range(plane.height)
    return b"".join(data[y * plane.line_size : y * plane.line_size + plane.width] for y in lines)


def _unpack(pixels: bytes, plane: av.video.plane.VideoPlane) -> None:
    """Fill ``plane`` with packed ``pixels`` (see :func:`_packed`), padding its lines."""
    if plane.line_size == plane.width:
        plane.update(pixels)
        return
    pad = bytes(plane.line_size - plane.width)
    rows = (pixels[y * plane.width : (y + 1) * plane.width] for y in range(plane.height))
    plane.update(b"".join(itertools.chain.from_iterable((row, pad) for row in rows)))
