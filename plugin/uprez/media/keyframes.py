"""Where a video's keyframes are — found by reading packets only, without decoding a frame.

Splitting a long video for the upscale service needs cut points: a segment copied without
re-encoding must start on a keyframe. :func:`keyframes` lists them, :func:`frame_times` gives
the time of every frame, and :func:`index_video` returns both in one pass, with the raw
timestamps and stream parameters that :mod:`uprez.media.segments` works from.

Frames are numbered in presentation (display) order from 0, and times are in seconds from the
first frame, so the first frame is at 0.0 even when the file starts at another timestamp.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import itertools
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
from av.container import InputContainer
from av.stream import Stream

from uprez.errors import MediaError
from uprez.media.cover_art import is_cover_art
from uprez.media.mp4index import DecodeOrder, sample_table

__all__ = [
    "Keyframe",
    "VideoIndex",
    "forget_indexes",
    "frame_times",
    "index_container",
    "index_video",
    "keyframes",
    "open_indexed",
    "skip_other_streams",
]

log = logging.getLogger(__name__)
# Packets read from a file's start to check its sample tables against (see _listed).
_CHECKED = 64

_AV_ERRORS = (av.FFmpegError, OSError, ValueError, RuntimeError, UnicodeError)


@dataclass(frozen=True)
class Keyframe:
    """A frame a stream copy can start from."""

    index: int
    """Presentation index of the frame (0 is the first frame shown)."""
    time: float
    """Seconds from the first frame."""


@dataclass(frozen=True)
class VideoIndex:
    """A video stream's parameters and every frame's timestamp, in presentation order."""

    path: str
    stream_index: int
    """Index of the video stream in the container."""
    time_base: Fraction
    pts: tuple[int, ...]
    """Timestamps of the frames in presentation order, in ``time_base`` units."""
    keyframe_indexes: tuple[int, ...]
    """Presentation indexes of the clean keyframes, ascending (see :func:`keyframes`)."""
    random_access: tuple[int, ...]
    """Presentation indexes of every keyframe, clean or not: where decoding can start."""
    reorder_delay: int
    """The most frames decode order runs ahead of display order (B-frames): re-stamped from
    0, the decode timestamps must start this many frames below 0."""
    codec: str
    width: int
    height: int
    pix_fmt: str
    extradata: bytes
    """The codec's global header (for H.264 in MP4, the avcC record with SPS and PPS)."""
    sizes: tuple[int, ...] = ()
    """Bytes of each frame's packet, in presentation order: what a cut of them will hold."""

    @property
    def frames(self) -> int:
        """Number of frames."""
        return len(self.pts)

    def time(self, index: int) -> float:
        """Seconds from the first frame to frame ``index``."""
        return float((self.pts[index] - self.pts[0]) * self.time_base)

    def keyframes(self) -> list[Keyframe]:
        """The clean keyframes as :class:`Keyframe` objects."""
        return [Keyframe(index=i, time=self.time(i)) for i in self.keyframe_indexes]

    def keyframe_at_or_before(self, index: int) -> int:
        """The last keyframe (clean or not) at or before frame ``index``, to decode from it; 0,
        the start, when there is none."""
        position = bisect.bisect_right(self.random_access, index)
        return self.random_access[position - 1] if position else 0


def keyframes(path: str | os.PathLike[str]) -> list[Keyframe]:
    """The keyframes of the first video stream at ``path``, in presentation order.

    Only *clean* keyframes are listed: those no frame decoded after them is shown before them
    (a closed GOP, as x264 writes by default). An open-GOP keyframe, followed in decode order by
    frames that display earlier and need the previous group, is not a place a copy can start.

    Raises:
        MediaError: the file cannot be read or holds no video stream.
    """
    return index_video(path).keyframes()


def frame_times(path: str | os.PathLike[str]) -> list[float]:
    """Seconds from the first frame to each frame of the first video stream, in display order.

    Raises:
        MediaError: the file cannot be read or holds no video stream.
    """
    index = index_video(path)
    return [index.time(i) for i in range(index.frames)]


def index_video(path: str | os.PathLike[str]) -> VideoIndex:
    """Read every video packet's timestamp and keyframe flag (demuxing only, no decoding).

    A long job asks twice, to plan and then to cut: the index of an unchanged file (same size
    and modification time) is kept, so a large source is read for it once.

    Raises:
        MediaError: the file cannot be read, holds no video stream, no frames, or frames
            without timestamps (or with the same timestamp).
    """
    target = os.fspath(path)
    try:
        stat = os.stat(target)
    except OSError:
        return _read_index(target)  # let the reader say what is wrong with it
    return _cached_index(target, stat.st_size, stat.st_mtime_ns)


def forget_indexes() -> None:
    """Drop the kept indexes (benchmarks count the read every job makes once)."""
    _cached_index.cache_clear()


@functools.lru_cache(maxsize=8)
def _cached_index(target: str, size: int, mtime_ns: int) -> VideoIndex:
    return _read_index(target)


def _read_index(target: str) -> VideoIndex:
    try:
        with av.open(target, metadata_errors="replace") as container:
            return index_container(container, target, tables=True)
    except _AV_ERRORS as exc:
        raise MediaError(f"{target} could not be read as a video: {exc}", path=target) from exc


@contextlib.contextmanager
def open_indexed(path: str | os.PathLike[str]) -> Iterator[tuple[InputContainer, VideoIndex]]:
    """Open ``path``, index its video and seek back to its first packet, to read it again.

    Only the video stream is read; opening once saves probing the file twice.

    Raises:
        MediaError: as :func:`index_video`.
    """
    target = os.fspath(path)
    try:
        container = av.open(target, metadata_errors="replace")
    except _AV_ERRORS as exc:
        raise MediaError(f"{target} could not be read as a video: {exc}", path=target) from exc
    with container:
        index = index_container(container, target)
        stream = container.streams[index.stream_index]
        try:
            container.seek(index.pts[0], stream=stream, backward=True)
        except _AV_ERRORS as exc:
            raise MediaError(f"{target} cannot be read twice: {exc}", path=target) from exc
        yield container, index


def index_container(container: InputContainer, path: str, *, tables: bool = False) -> VideoIndex:
    """:func:`index_video` of a file already open as ``container``, read to its end.

    For callers that go on to read the packets again: they seek back rather than pay for
    opening the file twice (opening probes the streams, decoding a few frames). With ``tables``,
    an MP4's sample tables are used instead when they agree with its first and last packets,
    and ``container`` is left unread.

    Raises:
        MediaError: as :func:`index_video`.
    """
    target = path
    try:
        videos = [s for s in container.streams.video if not is_cover_art(s)]
        if not videos or videos[0].time_base is None:
            raise MediaError(f"{target} has no usable video stream", path=target)
        stream, ctx = videos[0], videos[0].codec_context
        stream_index, time_base = stream.index, Fraction(videos[0].time_base)
        # Read everything now: a stream's fields are freed with its container.
        details = (
            str(ctx.name),
            int(ctx.width),
            int(ctx.height),
            ctx.format.name if ctx.format is not None else "unknown",
            bytes(ctx.extradata or b""),
        )
        skip_other_streams(container, stream)
        decode_order = _listed(target, stream) if tables else None
        if decode_order is None:
            decode_order = _scan(container.demux(stream), target)
    except _AV_ERRORS as exc:
        raise MediaError(f"{target} could not be read as a video: {exc}", path=target) from exc
    if not decode_order:
        raise MediaError(f"{target}: the video stream holds no frames", path=target)

    ordered = sorted(pts for pts, _, _ in decode_order)
    if len(set(ordered)) != len(ordered):
        raise MediaError(f"{target}: two video frames share a timestamp", path=target)
    rank = {pts: i for i, pts in enumerate(ordered)}
    keys = tuple(sorted(rank[pts] for pts in _clean_keyframes(decode_order)))
    starts = tuple(sorted(rank[pts] for pts, is_key, _ in decode_order if is_key))
    delay = max(0, max(i - rank[pts] for i, (pts, _, _) in enumerate(decode_order)))
    sizes = [0] * len(ordered)
    for pts, _, size in decode_order:
        sizes[rank[pts]] = size
    log.debug("%s: %d frames, %d keyframes, delay %d", target, len(ordered), len(keys), delay)
    return VideoIndex(
        target, stream_index, time_base, tuple(ordered), keys, starts, delay, *details, tuple(sizes)
    )


def skip_other_streams(container: InputContainer, *wanted: Stream) -> None:
    """Make ``container`` skip every stream but ``wanted`` as it reads.

    PyAV's ``demux(stream)`` reads every packet and drops the others' afterwards; a discarded
    stream's packets are not even read (MP4 seeks over them), which saves a full pass over the
    video's bytes when only the sound is wanted.
    """
    keep = {stream.index for stream in wanted}
    for stream in container.streams:
        if stream.index not in keep:
            stream.discard = av.stream.Discard.all


def _listed(target: str, stream: Stream) -> DecodeOrder | None:
    """The decode order from the file's MP4 sample tables (see :mod:`uprez.media.mp4index`),
    if it agrees with the packets actually read at the start and from the last keyframe on."""
    listed = sample_table(target, stream.index)
    if not listed or (stream.frames and len(listed) != stream.frames):
        return None
    with av.open(target, metadata_errors="replace") as check:
        video = check.streams[stream.index]
        assert isinstance(video, av.VideoStream)
        skip_other_streams(check, video)
        head = _scan(itertools.islice(check.demux(video), _CHECKED), target)
        last_key = next(pts for pts, is_key, _ in reversed(listed) if is_key)
        check.seek(last_key, stream=video, backward=True)
        tail = _scan(check.demux(video), target)
    if not head or not tail or len(tail) > len(listed):
        return None
    if listed[: len(head)] != head or listed[-len(tail) :] != tail:
        log.debug("%s: the sample tables disagree with the packets; reading them all", target)
        return None
    return listed


def _scan(packets: Iterable[av.Packet[av.VideoStream]], target: str) -> DecodeOrder:
    """``(pts, is_keyframe, bytes)`` of each real packet, in decode order."""
    found: DecodeOrder = []
    for packet in packets:
        if not packet.size or packet.is_discard:
            continue
        pts = packet.pts if packet.pts is not None else packet.dts
        if pts is None:
            raise MediaError(f"{target}: a video frame has no timestamp", path=target)
        found.append((int(pts), bool(packet.is_keyframe), int(packet.size)))
    return found


def _clean_keyframes(decode_order: DecodeOrder) -> set[int]:
    """Keyframe timestamps that no later-decoded frame of their group is shown before."""
    clean: set[int] = set()
    current: int | None = None
    for pts, is_key, _ in decode_order:
        if is_key:
            if current is not None:
                clean.add(current)
            current = pts
        elif current is not None and pts < current:
            current = None  # a leading frame: this keyframe opens an open GOP
    if current is not None:
        clean.add(current)
    return clean
