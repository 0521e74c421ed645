"""Pairs of consecutive frames from two videos of the same frame count, read cheaply.

The content check looks at frames k and k+1 of a source and its result at a dozen moments.
Decoding a 10-minute 4K result to get them would take minutes; decoding from the nearest
keyframe takes a couple of frames when k is a keyframe. So :func:`choose_frames` picks, in each
of ``samples`` equal spans of the clip, the frame whose pair costs least to decode from both
files: a keyframe of either file inside the span, or the span's first frame when reading on
from the previous moment is cheaper (a short clip is then read once, start to end, and sampled
evenly). A running budget (:data:`DECODE_BUDGET` pixels over both files) bounds the whole: a
span every candidate of which costs more than what is left is not sampled. :class:`PairReader`
then reads each file forward, seeking only when a keyframe lies between where it stands and the
frame it needs.

Frames are numbered in presentation order from 0, as :mod:`uprez.media.keyframes` counts them.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from fractions import Fraction

import av
from av.container import InputContainer

from uprez.media.keyframes import VideoIndex, skip_other_streams

__all__ = ["DECODE_BUDGET", "PairReader", "choose_frames"]

log = logging.getLogger(__name__)

#: Frames one check may decode, over both files.
DECODE_BUDGET = 180


def choose_frames(source: VideoIndex, result: VideoIndex, samples: int) -> list[int]:
    """The frames k (ascending) to compare with their next, k+1, in both files; at most
    ``samples`` of them, one per equal span of the clip (see the module's description)."""
    frames = min(source.frames, result.frames)
    if frames < 2 or samples < 1:
        return [0] if frames and samples >= 1 else []
    last = frames - 2  # the last k that has a k+1
    count = min(samples, last + 1)
    keys = sorted(set(source.random_access) | set(result.random_access))
    position = -1  # both readers stand on the same frame: the last pair's k+1
    chosen: list[int] = []
    spent = 0

    def cost(k: int) -> int:
        return sum(_to_read(index, position, k) for index in (source, result))

    for span in range(count):
        low = span * (last + 1) // count
        high = (span + 1) * (last + 1) // count
        middle = (low + high) / 2
        inside = keys[bisect.bisect_left(keys, low) : bisect.bisect_left(keys, high)]
        best = min({low, *inside}, key=lambda k: (cost(k), abs(k - middle)))
        price = cost(best)
        if spent + price > DECODE_BUDGET * (span + 1) // count:
            log.debug("frames %d-%d not sampled: %d frames to decode", low, high - 1, price)
            continue
        spent += price
        chosen.append(best)
        position = best + 1
    return chosen


def _to_read(index: VideoIndex, position: int, k: int) -> int:
    """Frames to decode for k and k+1 by a reader standing at ``position`` (-1: nothing read):
    on from there, or from the keyframe at or before k when one lies in between."""
    start = index.keyframe_at_or_before(k)
    if position >= start:
        return max(0, k + 1 - position)
    return k + 2 - start


class PairReader:
    """Frames of one open video, read forward pair by pair."""

    def __init__(self, container: InputContainer, index: VideoIndex) -> None:
        self._container = container
        self._index = index
        stream = container.streams[index.stream_index]
        assert isinstance(stream, av.VideoStream)
        self._stream = stream
        self._stream.thread_type = "AUTO"
        skip_other_streams(container, self._stream)
        self._numbers = {pts: n for n, pts in enumerate(index.pts)}
        self._frames: Iterator[av.VideoFrame] | None = None
        self._position = -1
        self._last: av.VideoFrame | None = None
        self.decoded = 0
        """Frames decoded so far (for the cost in the log)."""

    @property
    def pixel_aspect(self) -> Fraction | None:
        """The stream's sample (pixel) aspect ratio, None when not set."""
        ratio = self._stream.sample_aspect_ratio
        return Fraction(ratio) if ratio else None

    def pair(self, k: int) -> tuple[av.VideoFrame, av.VideoFrame | None]:
        """Frames k and k+1 (None when k is the last frame)."""
        start = self._index.keyframe_at_or_before(k)
        if self._frames is None or start > self._position or self._position > k:
            self._seek(start)
        wanted: dict[int, av.VideoFrame] = {}
        if self._position == k and self._last is not None:
            wanted[k] = self._last
        stop = min(k + 1, self._index.frames - 1)
        while self._position < stop:
            frame = self._next()
            if frame is None:
                break
            if self._position >= k:
                wanted[self._position] = frame
        if k not in wanted:
            raise ValueError(f"{self._index.path}: frame {k} could not be decoded")
        return wanted[k], wanted.get(k + 1)

    def _seek(self, start: int) -> None:
        self._container.seek(
            self._index.pts[start], stream=self._stream, backward=True, any_frame=False
        )
        self._frames = (
            f for f in self._container.decode(self._stream) if isinstance(f, av.VideoFrame)
        )
        self._position = start - 1
        self._last = None

    def _next(self) -> av.VideoFrame | None:
        """The next decoded frame, its number now :attr:`_position`; None at the end."""
        assert self._frames is not None
        frame = next(self._frames, None)
        if frame is None:
            return None
        self.decoded += 1
        number = self._numbers.get(frame.pts) if frame.pts is not None else None
        if number is None:  # a decoder that does not carry timestamps: count on
            number = self._position + 1
        self._position = number
        self._last = frame
        return frame
