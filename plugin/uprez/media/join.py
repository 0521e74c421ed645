"""Join upscaled parts into one MP4, their video copied, with the source's own sound.

The parts' frames follow one another at exactly ``1/fps`` each from where the source's video
starts, with no gap and no repeat at a join; every audio and subtitle stream comes from the
original source (:mod:`uprez.media.source_streams`). Packets stream one at a time, read in
threads of their own while this one writes, so memory stays flat however long the video.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction

import av
from av.container import InputContainer

from uprez.errors import MediaError
from uprez.media.av_errors import AV_ERRORS
from uprez.media.inband import check_parts, parameter_sets
from uprez.media.parts import JoinPart, NotSteady, open_exact, open_steady
from uprez.media.prefetch import Prefetch
from uprez.media.probe import is_cover_art
from uprez.media.source_streams import SourceStreams, Timed

__all__ = ["Unlike", "concat_with_source_audio", "join_as_they_come"]

# The name segment cutting and joining have always logged under (callers filter by it).
log = logging.getLogger("uprez.media.segments")

_Path = str | os.PathLike[str]
# Packets handed from each reading thread to the writer at a time, and hand-overs queued:
# batches keep the GIL handoffs few; a few batches of 32 keep memory flat (at most about
# (2 + 2) x 32 packets a thread: some 20 MB of 1080p, 60 MB of 100 Mbit/s 4K).
_BATCH = 32
_DEPTH = 2


def concat_with_source_audio(
    parts: Sequence[_Path], source: _Path, dst: _Path, *, fps: Fraction
) -> int:
    """Join the video of ``parts`` (copied) with the audio and subtitles of ``source`` at ``dst``.

    The parts' frames follow one another at ``1/fps`` each from where ``source``'s video starts:
    frame ``n`` of a part after ``k`` earlier frames becomes frame ``k + n``, with no gap and no
    repeat at a join. Every audio stream of ``source`` is copied when MP4 can carry it, else
    re-encoded as AAC; text subtitles become ``mov_text``; picture subtitles are left out with a
    warning. With one part, this restores the sound of an upscaled file that came back without.
    Returns the number of video frames written.

    The parts must be video of one codec, size and pixel format. When H.264 parts were encoded
    with different settings, each keyframe carries its part's parameter sets (SPS and PPS), so
    every part decodes as it did alone.

    Raises:
        ValueError: ``parts`` is empty or ``fps`` is not positive.
        MediaError: a part or the source cannot be read, the parts differ, or FFmpeg failed
            writing ``dst``.
    """
    paths, origin, target = [os.fspath(p) for p in parts], os.fspath(source), os.fspath(dst)
    if not paths or fps <= 0:
        raise ValueError("joining needs at least one part and a positive frame rate")
    try:  # parts at a steady frame rate, as the service returns them, are read once
        written, expected = _join_parts(paths, open_steady, origin, target, Fraction(fps))
    except NotSteady as why:
        log.info("%s: numbering every part's frames from a full index", why)
        written, expected = _join_parts(paths, open_exact, origin, target, Fraction(fps))
    if expected and expected != written:
        log.warning("%s: %d video frames, the source %s has %d", target, written, origin, expected)
    log.info(
        "joined %d parts, %d frames, with the sound of %s: %s", len(paths), written, origin, target
    )
    return written


def join_as_they_come(parts: Iterable[_Path], source: _Path, dst: _Path, *, fps: Fraction) -> int:
    """:func:`concat_with_source_audio` of parts that arrive one after another: ``parts`` may
    wait for each (a download), and the join starts with the first, so once the last is here
    only it is left to copy. Returns the number of video frames written.

    Every later part must be like the first: the same codec, size, pixel format and encoder
    settings, at a steady rate, reordering no more frames (the timestamps written before it
    came allowed for the first part's reordering only).

    Raises:
        Unlike: a part is not like the first (join them again once all are here).
        NotSteady: a part is not at a steady frame rate (the same).
        MediaError: as :func:`concat_with_source_audio`.
    """
    arriving = iter(parts)
    origin, target = os.fspath(source), os.fspath(dst)
    with contextlib.ExitStack() as opened:
        first = opened.enter_context(open_steady(os.fspath(next(arriving))))

        def alike() -> Iterator[JoinPart]:
            yield first
            for path in arriving:
                part = opened.enter_context(open_steady(os.fspath(path)))
                if _looks(part) != _looks(first) or part.delay > first.delay:
                    raise Unlike(f"{part.path} is {_looks(part)}, the first part {_looks(first)}")
                yield part

        written, expected = _join(first, alike(), origin, target, Fraction(fps), False, first.delay)
    if expected and expected != written:
        log.warning("%s: %d video frames, the source %s has %d", target, written, origin, expected)
    log.info(
        "joined parts as they came, %d frames, with the sound of %s: %s", written, origin, target
    )
    return written


class Unlike(Exception):
    """A part that came later cannot follow the ones already joined."""


def _looks(part: JoinPart) -> tuple[object, ...]:
    return (part.codec, part.width, part.height, part.pix_fmt, part.extradata)


def _join_parts(
    paths: list[str],
    opener: Callable[[str], contextlib.AbstractContextManager[JoinPart]],
    origin: str,
    target: str,
    fps: Fraction,
) -> tuple[int, int]:
    with contextlib.ExitStack() as opened:
        parts = [opened.enter_context(opener(p)) for p in paths]
        inband = check_parts(parts)
        delay = max(part.delay for part in parts)
        return _join(parts[0], parts, origin, target, fps, inband, delay)


def _join(
    first: JoinPart,
    parts: Iterable[JoinPart],
    origin: str,
    target: str,
    fps: Fraction,
    inband: bool,
    delay: int,
) -> tuple[int, int]:
    """Write the joined file; return the video frames written and the source's frame count.
    ``first`` is the first of ``parts``; ``delay`` the most frames any part reorders.

    The parts and the source's sound are read in threads of their own while this one writes:
    FFmpeg reads and writes without holding the GIL, and packets are handed over in batches.
    """
    try:
        with (
            av.open(origin, metadata_errors="replace") as inp,
            av.open(target, "w", format="mp4") as out,
        ):
            video = out.add_stream_from_template(first.container.streams[first.stream_index])
            assert isinstance(video, av.VideoStream)
            video.time_base = 1 / fps
            side = SourceStreams(inp, out)
            slot = _start_slot(inp, fps)
            clips = Prefetch(
                lambda: _joined_video(parts, video, slot, inband, delay),
                _DEPTH,
                batch=_BATCH,
                name="uprez-join-video",
            )
            sound = Prefetch(side.packets, _DEPTH, batch=_BATCH, name="uprez-join-sound")
            written = 0
            with clips as pictures, sound as others:
                for _, packet in heapq.merge(pictures, others, key=lambda item: item[0]):
                    written += packet.stream_index == video.index
                    out.mux(packet)
            out.mux(side.flush())
            expected = next((s.frames for s in inp.streams.video if not is_cover_art(s)), 0)
    except AV_ERRORS as exc:
        raise MediaError(f"could not join the parts into {target}: {exc}") from exc
    return written, expected


def _start_slot(inp: InputContainer, fps: Fraction) -> int:
    """The frame slot where the source's video starts (0 unless its first frame is later)."""
    for stream in inp.streams.video:
        if not is_cover_art(stream) and stream.start_time is not None and stream.time_base:
            return round(stream.start_time * stream.time_base * fps)
    return 0


def _joined_video(
    parts: Iterable[JoinPart], video: av.VideoStream, slot: int, inband: bool, delay: int
) -> Iterator[Timed]:
    """Every part's packets in decode order, re-stamped one ``1/fps`` tick per frame.

    A frame's time is its slot; decode times run ``delay`` ticks behind (as many as the most
    B-frames of any part need), so they rise steadily across the joins and never pass
    presentation times.
    """
    tick = video.time_base
    assert tick is not None
    seconds = float(tick)  # a float sort key: exact Fractions cost more than the copy itself
    for part in parts:
        number = part.numbering(delay)
        prefix = parameter_sets(part.extradata) if inband else b""
        decoded = 0
        for packet in part.container.demux(part.container.streams[part.stream_index]):
            pts = packet.pts if packet.pts is not None else packet.dts
            if not packet.size or packet.is_discard or pts is None:
                continue
            if prefix and packet.is_keyframe:
                packet = av.Packet(prefix + bytes(packet))
                packet.is_keyframe = True
            packet.pts, packet.dts = slot + number(pts, decoded), slot + decoded - delay
            packet.duration, packet.time_base, packet.stream = 1, tick, video
            decoded += 1
            yield packet.dts * seconds, packet
        part.finish(decoded)
        slot += part.frames
