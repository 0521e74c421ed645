"""Parts opened to be joined, and how each one's frames are numbered as they are copied.

A join re-stamps every frame with its place in display order, so it must know, as each
packet goes by in decode order, how many frames of its part are shown before it. Exactly,
that takes an index of the whole part (:func:`open_exact`), which means reading it twice.
A part at a constant frame rate, as the upscale service returns, needs no index: frame ``n``
is at ``first + n * step`` (:func:`open_steady`). That is checked on every packet, and a
part that breaks it raises :class:`NotSteady` so the caller joins again the exact way.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
from av.container import InputContainer

from uprez.errors import MediaError
from uprez.media.keyframes import VideoIndex, open_indexed, skip_other_streams
from uprez.media.probe import is_cover_art

__all__ = ["JoinPart", "NotSteady", "open_exact", "open_steady"]

#: Packets read ahead from the start of a part to learn its frame step and B-frame delay.
_PEEK = 128
_AV_ERRORS = (av.FFmpegError, OSError, ValueError, RuntimeError, UnicodeError)

#: ``number(pts, decoded)``: the display index of the frame with timestamp ``pts``, the
#: ``decoded``-th (from 0) in decode order.
Numbering = Callable[[int, int], int]


class NotSteady(Exception):
    """A part's frames cannot be numbered without an index (not a constant frame rate, or
    unreadable): join it the exact way, which also says what is wrong with it, if anything."""


@dataclass
class JoinPart:
    """A part open to be copied, with what a join needs to know of its video."""

    path: str
    container: InputContainer
    stream_index: int
    codec: str
    width: int
    height: int
    pix_fmt: str
    extradata: bytes
    """The codec's global header (for H.264 in MP4, the avcC record with SPS and PPS)."""
    frames: int
    delay: int
    """The most frames decode order runs ahead of display order (see
    :attr:`~uprez.media.keyframes.VideoIndex.reorder_delay`)."""

    def numbering(self, delay: int) -> Numbering:
        """How to number this part's frames when decode times run ``delay`` frames behind."""
        raise NotImplementedError

    def finish(self, decoded: int) -> None:
        """Check the part was read whole, ``decoded`` frames."""
        if decoded != self.frames:
            raise MediaError(f"{self.path}: read {decoded} of {self.frames} frames", path=self.path)


@dataclass
class _Indexed(JoinPart):
    pts: tuple[int, ...]

    def numbering(self, delay: int) -> Numbering:
        rank = {pts: i for i, pts in enumerate(self.pts)}
        return lambda pts, decoded: rank[pts]


@dataclass
class _Steady(JoinPart):
    first: int
    step: int

    def numbering(self, delay: int) -> Numbering:
        seen, first, step, frames, path = (
            bytearray(self.frames),
            self.first,
            self.step,
            self.frames,
            self.path,
        )

        def number(pts: int, decoded: int) -> int:
            index, rest = divmod(pts - first, step)
            # Each frame on its own slot, none missing at the end (finish), and never decoded
            # later than shown: then this is exactly the display order an index would give.
            if rest or not 0 <= index < frames or seen[index] or decoded - index > delay:
                raise NotSteady(f"{path}: frame {decoded} is not where a steady rate puts it")
            seen[index] = 1
            return index

        return number

    def finish(self, decoded: int) -> None:
        if decoded != self.frames:
            raise NotSteady(f"{self.path}: {decoded} frames, the file says {self.frames}")


@contextlib.contextmanager
def open_exact(path: str | os.PathLike[str]) -> Iterator[JoinPart]:
    """Open ``path`` and index its video, to copy its packets numbered exactly.

    Raises:
        MediaError: as :func:`~uprez.media.keyframes.index_video`.
    """
    with open_indexed(path) as (container, index):
        yield _Indexed(
            index.path,
            container,
            index.stream_index,
            *_looks(index),
            index.frames,
            index.reorder_delay,
            index.pts,
        )


@contextlib.contextmanager
def open_steady(path: str | os.PathLike[str]) -> Iterator[JoinPart]:
    """Open ``path`` to copy its packets, numbered by a constant frame rate without an index.

    Only the first packets are read, to learn the frame step and the B-frame delay, and the
    file is read again from its start; every later packet is checked as it is numbered.

    Raises:
        NotSteady: the part is not at a constant rate, does not say how many frames it has,
            or cannot be read.
    """
    target = os.fspath(path)
    try:
        container = av.open(target, metadata_errors="replace")
    except _AV_ERRORS as exc:
        raise NotSteady(f"{target} could not be read: {exc}") from exc
    with container:
        try:
            videos = [s for s in container.streams.video if not is_cover_art(s)]
            if not videos or videos[0].time_base is None or videos[0].frames <= 0:
                raise NotSteady(f"{target}: no video stream with a frame count")
            stream, ctx = videos[0], videos[0].codec_context
            fmt = ctx.format.name if ctx.format is not None else "unknown"
            looks = (
                str(ctx.name),
                int(ctx.width),
                int(ctx.height),
                fmt,
                bytes(ctx.extradata or b""),
            )
            skip_other_streams(container, stream)
            first, step, delay = _peek(container.demux(stream), target)
            container.seek(first, stream=stream, backward=True)
            part = _Steady(
                target, container, stream.index, *looks, stream.frames, delay, first, step
            )
        except _AV_ERRORS as exc:
            raise NotSteady(f"{target} could not be read: {exc}") from exc
        yield part


def _looks(index: VideoIndex) -> tuple[str, int, int, str, bytes]:
    return index.codec, index.width, index.height, index.pix_fmt, index.extradata


def _peek(packets: Iterator[av.Packet[av.VideoStream]], target: str) -> tuple[int, int, int]:
    """The first timestamp, the step between frames and the B-frame delay seen at the start."""
    stamps = [
        p.pts for p in itertools.islice(packets, _PEEK) if p.size and not p.is_discard
    ]  # islice counts empty packets too: a few fewer frames, no matter
    if not stamps or any(pts is None for pts in stamps):
        raise NotSteady(f"{target}: frames without timestamps")
    known = [int(pts) for pts in stamps if pts is not None]
    ordered = sorted(known)
    gaps = {b - a for a, b in itertools.pairwise(ordered)}
    if len(known) < 2 or min(gaps) <= 0:
        raise NotSteady(f"{target}: too few frames, or two at one time")
    first, step = known[0], min(gaps)
    delay = max(0, *(i - (pts - first) // step for i, pts in enumerate(known)))
    return first, step, delay
