"""Cut a video into segments and join upscaled segments back, with the source's own sound.

The upscale service takes at most 600 s of video at a time, so a longer video is cut into
segments (:func:`cut_segment`), each is upscaled, and the results are joined again
(:func:`concat_with_source_audio`). The join copies the video packets (no re-encode), numbers
the frames one after another at exactly ``1/fps`` each, and takes every audio and subtitle
stream from the original source, so the sound is continuous and stays in sync across the joins.

Frames are counted in presentation order from 0, as in :mod:`uprez.media.keyframes`. Outputs are
always MP4, written in place: write to a temporary name and rename it when readers must never
see a partial file. Packets stream one at a time, so memory stays flat however long the video
(only a few integers per frame are kept, to put the frames in order).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Any

import av
from av.container import InputContainer, OutputContainer
from av.subtitles.codeccontext import SubtitleCodecContext
from av.subtitles.subtitle import SubtitleSet

from uprez.errors import MediaError
from uprez.media.audio import add_audio_stream
from uprez.media.keyframes import VideoIndex, index_video, skip_other_streams
from uprez.media.parts import JoinPart, NotSteady, open_exact, open_steady
from uprez.media.prefetch import Prefetch
from uprez.media.probe import is_cover_art, probe

__all__ = ["TEXT_SUBTITLE_CODECS", "concat_with_source_audio", "cut_segment"]

log = logging.getLogger(__name__)

#: Text subtitle codecs written to MP4 as ``mov_text``; picture subtitles are left out.
TEXT_SUBTITLE_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "text", "mov_text"})

_AV_ERRORS = (av.FFmpegError, OSError, ValueError, RuntimeError, UnicodeError)
_Path = str | os.PathLike[str]
_Timed = tuple[float, "av.Packet[Any]"]
_Span = tuple[int, int | None]
# Packets handed from each reading thread to the writer at a time, and hand-overs queued:
# batches keep the GIL handoffs few; a few batches of 32 keep memory flat (at most about
# (2 + 2) x 32 packets a thread: some 20 MB of 1080p, 60 MB of 100 Mbit/s 4K).
_BATCH = 32
_DEPTH = 2


def cut_segment(
    src: _Path,
    dst: _Path,
    first: int,
    stop: int,
    *,
    copy: bool,
    fps: Fraction | None = None,
    crf: int = 16,
    preset: str = "veryfast",
    index: VideoIndex | None = None,
) -> int:
    """Write frames ``[first, stop)`` of ``src``'s video, and nothing else, as an MP4 at ``dst``.

    With ``copy`` the packets are copied untouched, re-timed to start at 0: ``first`` must be a
    keyframe from :func:`~uprez.media.keyframes.keyframes`, and ``stop`` another or the frame
    count (``fps`` is not used). Without ``copy`` the frames are decoded (from the keyframe
    before ``first``) and encoded with libx264 (``crf``, ``preset``) at ``fps`` (by default the
    source's rate), frame ``i`` at ``i/fps``, the first a keyframe. ``index``, the source's
    :func:`~uprez.media.keyframes.index_video`, saves reading the whole file again for each cut
    (an index of another path is ignored).
    Returns the number of frames written, ``stop - first``.

    Raises:
        ValueError: the range is empty or outside the video, or a copy does not start (or end)
            on a keyframe.
        MediaError: ``src`` cannot be read, or FFmpeg failed writing ``dst``.
    """
    source, target = os.fspath(src), os.fspath(dst)
    index = index if index is not None and index.path == source else index_video(source)
    if not 0 <= first < stop <= index.frames:
        raise ValueError(f"frames [{first}, {stop}) are not within the {index.frames} frames")
    keys = set(index.keyframe_indexes)
    if copy and (first not in keys or (stop < index.frames and stop not in keys)):
        bad = first if first not in keys else stop
        raise ValueError(f"frame {bad} of {source} is not a keyframe: it cannot be cut by copy")
    info = None if copy else probe(source)
    span = (index.pts[first], index.pts[stop] if stop < index.frames else None)
    try:
        with (
            av.open(source, metadata_errors="replace") as inp,
            av.open(target, "w", format="mp4") as out,
        ):
            stream = inp.streams[index.stream_index]
            assert isinstance(stream, av.VideoStream)
            if info is None:
                written = _copy_range(inp, stream, out, span, index.pts[0])
            else:
                video = _x264_stream(stream, out, Fraction(fps or info.fps), crf, preset)
                if info.rotation:
                    video.set_display_rotation(info.rotation)
                seeks = (index.pts[index.keyframe_at_or_before(first)], index.pts[0])
                written = _encode_range(inp, stream, video, span, seeks)
    except _AV_ERRORS as exc:
        raise MediaError(f"could not cut {source} to {target}: {exc}", path=source) from exc
    if written != stop - first:
        raise MediaError(f"{target}: wrote {written} frames, not {stop - first}", path=source)
    how = "copy" if copy else "x264"
    log.info("cut frames [%d, %d) of %s to %s (%s)", first, stop, source, target, how)
    return written


def _copy_range(
    inp: InputContainer, stream: av.VideoStream, out: OutputContainer, span: _Span, origin: int
) -> int:
    """Copy the packets from the keyframe at ``span[0]`` up to the one at ``span[1]`` (None: the
    end), in decode order, re-timed to start at 0. If seeking there overshoots, from ``origin``.
    """
    video = out.add_stream_from_template(stream)
    (start, end), written = span, 0
    skip_other_streams(inp, stream)
    for seek_to in (start, origin):
        inp.seek(seek_to, stream=stream, backward=True)
        started = False
        for packet in inp.demux(stream):
            if packet.is_keyframe and packet.pts is not None and not started:
                if packet.pts > start:
                    break
                started = packet.pts == start
            if not started or not packet.size or packet.is_discard or packet.pts is None:
                continue
            if packet.is_keyframe and packet.pts == end:
                break
            if packet.pts < start or (end is not None and packet.pts >= end):
                raise MediaError(f"{inp.name}: frames out of order at the cut", path=inp.name)
            packet.pts -= start
            if packet.dts is not None:
                packet.dts -= start  # below 0 before B-frames: MP4 keeps that in an edit list
            packet.stream = video
            out.mux(packet)
            written += 1
        if started:
            break
    return written


def _x264_stream(
    src: av.VideoStream, out: OutputContainer, fps: Fraction, crf: int, preset: str
) -> av.VideoStream:
    """A libx264 stream with ``src``'s size and colour tags, one time-base tick per frame."""
    ctx = src.codec_context
    video = out.add_stream("libx264", rate=fps, options={"preset": preset, "crf": str(crf)})
    video.width, video.height, video.pix_fmt = ctx.width, ctx.height, "yuv420p"
    video.codec_context.time_base = 1 / fps
    video.color_primaries, video.color_trc = ctx.color_primaries, ctx.color_trc
    video.colorspace, video.color_range = ctx.colorspace, ctx.color_range
    if src.sample_aspect_ratio:
        video.sample_aspect_ratio = src.sample_aspect_ratio
    return video


def _encode_range(
    inp: InputContainer, stream: av.VideoStream, video: av.VideoStream, span: _Span, seeks: _Span
) -> int:
    """Decode from the first of ``seeks`` (else the second, if that overshoots) and encode the
    frames timed within ``span`` into ``video``, frame ``i`` at ``i`` ticks."""
    stream.thread_type = "AUTO"
    skip_other_streams(inp, stream)
    (start, end), written = span, 0
    time_base, out = video.codec_context.time_base, video.container
    assert isinstance(out, OutputContainer)
    for seek_to in seeks:
        if seek_to is None or written:
            break
        inp.seek(seek_to, stream=stream, backward=True)
        for frame in inp.decode(stream):
            if frame.pts is None or frame.pts < start:
                continue
            if (written == 0 and frame.pts != start) or (end is not None and frame.pts >= end):
                break  # an overshooting seek, or the end of the range
            picture = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
            picture.pts, picture.time_base, picture.pict_type = written, time_base, 0
            out.mux(video.encode(picture))
            written += 1
    out.mux(video.encode(None))
    return written


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


def _join_parts(
    paths: list[str],
    opener: Callable[[str], contextlib.AbstractContextManager[JoinPart]],
    origin: str,
    target: str,
    fps: Fraction,
) -> tuple[int, int]:
    with contextlib.ExitStack() as opened:
        parts = [opened.enter_context(opener(p)) for p in paths]
        inband = _check_parts(parts)
        return _join(parts, origin, target, fps, inband)


def _join(
    parts: list[JoinPart], origin: str, target: str, fps: Fraction, inband: bool
) -> tuple[int, int]:
    """Write the joined file; return the video frames written and the source's frame count.

    The parts and the source's sound are read in threads of their own while this one writes:
    FFmpeg reads and writes without holding the GIL, and packets are handed over in batches.
    """
    try:
        with (
            av.open(origin, metadata_errors="replace") as inp,
            av.open(target, "w", format="mp4") as out,
        ):
            first = parts[0]
            video = out.add_stream_from_template(first.container.streams[first.stream_index])
            assert isinstance(video, av.VideoStream)
            video.time_base = 1 / fps
            side = _SourceStreams(inp, out)
            slot = _start_slot(inp, fps)
            clips = Prefetch(
                lambda: _joined_video(parts, video, slot, inband),
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
    except _AV_ERRORS as exc:
        raise MediaError(f"could not join {len(parts)} parts into {target}: {exc}") from exc
    return written, expected


def _check_parts(indexes: list[JoinPart]) -> bool:
    """Refuse parts that cannot share a video track; say if parameter sets must go in-band."""
    looks = [f"{p.codec} {p.width}x{p.height} {p.pix_fmt}" for p in indexes]
    for part, description in zip(indexes, looks, strict=True):
        if description != looks[0]:
            raise MediaError(
                f"cannot join {part.path}: its video is {description}, not {looks[0]}",
                path=part.path,
            )
    if all(part.extradata == indexes[0].extradata for part in indexes):
        return False
    for part in indexes:  # H.264 in MP4 with a 4-byte NAL length, as x264 and most encoders write
        avcc = part.extradata
        if part.codec != "h264" or len(avcc) < 7 or avcc[0] != 1 or avcc[4] & 3 != 3:
            raise MediaError(
                f"cannot join {part.path}: its encoder settings differ", path=part.path
            )
    log.info("the parts were encoded with different settings: their SPS/PPS go in-band")
    return True


def _parameter_sets(avcc: bytes) -> bytes:
    """The SPS and PPS units of an avcC record, each with a 4-byte length prefix."""
    units, pos = [], 5
    for mask in (0x1F, 0xFF):  # the SPS count, then the PPS count
        count, pos = avcc[pos] & mask, pos + 1
        for _ in range(count):
            length = int.from_bytes(avcc[pos : pos + 2], "big")
            units.append(avcc[pos + 2 : pos + 2 + length])
            pos += 2 + length
    return b"".join(len(unit).to_bytes(4, "big") + unit for unit in units)


def _start_slot(inp: InputContainer, fps: Fraction) -> int:
    """The frame slot where the source's video starts (0 unless its first frame is later)."""
    for stream in inp.streams.video:
        if not is_cover_art(stream) and stream.start_time is not None and stream.time_base:
            return round(stream.start_time * stream.time_base * fps)
    return 0


def _joined_video(
    parts: list[JoinPart], video: av.VideoStream, slot: int, inband: bool
) -> Iterator[_Timed]:
    """Every part's packets in decode order, re-stamped one ``1/fps`` tick per frame.

    A frame's time is its slot; decode times run as many ticks behind as the most B-frames of
    any part need, so they rise steadily across the joins and never pass presentation times.
    """
    tick, delay = video.time_base, max(part.delay for part in parts)
    assert tick is not None
    seconds = float(tick)  # a float sort key: exact Fractions cost more than the copy itself
    for part in parts:
        number = part.numbering(delay)
        prefix = _parameter_sets(part.extradata) if inband else b""
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


class _SourceStreams:
    """The source's audio and subtitle streams, copied or converted for MP4."""

    def __init__(self, inp: InputContainer, out: OutputContainer) -> None:
        self.inp = inp
        self.copied: dict[int, av.stream.Stream] = {}
        self.audio: dict[int, av.AudioStream] = {}
        self.text: dict[int, SubtitleCodecContext] = {}
        for audio in inp.streams.audio:
            stream, encode = add_audio_stream(out, audio)
            (self.audio if encode else self.copied)[audio.index] = stream
        for sub in inp.streams.subtitles:
            name, header = sub.codec_context.name, None
            if name == "mov_text":
                self.copied[sub.index] = out.add_stream_from_template(sub)
                continue
            if name in TEXT_SUBTITLE_CODECS:
                sub.codec_context.open(strict=False)  # its decoder gives the ASS header
                header = sub.codec_context.subtitle_header
            if header is None:
                log.warning("subtitle stream %d (%s) cannot go into MP4: left out", sub.index, name)
                continue
            mov_text = out.add_stream("mov_text")
            assert isinstance(mov_text.codec_context, SubtitleCodecContext)
            mov_text.codec_context.subtitle_header = header
            self.copied[sub.index], self.text[sub.index] = mov_text, mov_text.codec_context

    def packets(self) -> Iterator[_Timed]:
        """The packets to mux, in the source's order, each with its time in seconds."""
        wanted = [self.inp.streams[i] for i in (*self.copied, *self.audio)]
        if not wanted:
            return
        skip_other_streams(self.inp, *wanted)  # the source's video is not read at all
        seconds = {s.index: float(s.time_base or 0) for s in wanted}
        for packet in self.inp.demux(*wanted):
            stamp = packet.dts if packet.dts is not None else packet.pts
            if not packet.size or stamp is None:
                continue
            index = packet.stream.index
            when = stamp * seconds[index]
            if index in self.audio:
                for frame in packet.decode():
                    assert isinstance(frame, av.AudioFrame)
                    yield from ((when, p) for p in self.audio[index].encode(frame))
            elif index in self.text:
                yield from ((when, p) for p in self._subtitle(packet, self.copied[index]))
            else:
                packet.stream = self.copied[index]
                yield when, packet

    def _subtitle(self, packet: av.Packet[Any], stream: av.stream.Stream) -> list[av.Packet[Any]]:
        """A text subtitle re-encoded as ``mov_text``, at its source time."""
        decoded = packet.stream.codec_context.decode2(packet)
        encoded = []
        for rect in decoded or ():
            cue = SubtitleSet.create(rect.ass, 0, packet.duration or 0, pts=packet.pts or 0)
            result = self.text[stream.index].encode_subtitle(cue)
            result.time_base, result.stream = packet.time_base, stream
            encoded.append(result)
        return encoded

    def flush(self) -> list[av.Packet[Any]]:
        """What the AAC encoders still hold."""
        return [p for stream in self.audio.values() for p in stream.encode(None)]
