"""Conform the service's 4K picture back onto the master it was made from.

The service returns 8-bit H.264 with none of a master's metadata. :func:`conform` writes the
result a pipeline expects: the service's picture, copied (H.264) or encoded into the master's
own codec (:mod:`uprez.media.codecs`), with the master's frame times (a variable-frame-rate
source gets its own frame times back), timecode, every audio track in order with its layout
and language, display aspect (an anamorphic master stays anamorphic-correct), colour tags,
rotation, chapters and the container metadata that describes the content (not the file).
A master with alpha gets its alpha upscaled here (:mod:`uprez.media.alpha`).

Video is decoded (and converted to the encoder's pixel format) and encoded in threads of their
own while the source's audio is read in another and this one writes, packets merged in time
order, so memory stays flat however long the video.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from av.container import InputContainer, OutputContainer

from uprez.errors import MediaError
from uprez.media.alpha import AlphaMerge
from uprez.media.av_errors import AV_ERRORS
from uprez.media.codecs import OutputCodec
from uprez.media.keyframes import skip_other_streams
from uprez.media.pixel_format import Converter
from uprez.media.prefetch import Prefetch
from uprez.media.probe import is_cover_art
from uprez.media.source_streams import SourceStreams, Timed

__all__ = ["Conform", "conform", "timecode_of"]

log = logging.getLogger(__name__)

_Path = str | os.PathLike[str]
_DEPTH, _BATCH = 4, 8
# Converted 4K frames waiting for the encoder (33 MB each in 10-bit 4:2:2): the encoder's own
# threads hold a frame each besides, so two more keep it fed without adding much memory.
_FRAMES = 2

# Container metadata that describes the file rather than its content: not carried over.
_FILE_KEYS = frozenset(
    {
        "major_brand",
        "minor_version",
        "compatible_brands",
        "encoder",
        "creation_time",
        "timecode",
        "company_name",
        "product_name",
        "product_version",
        "modification_date",
        "application_platform",
        "toolkit_version",
        "handler_name",
        "vendor_id",
    }
)


@dataclass(frozen=True)
class Conform:
    """How to write a result: in ``codec``; ``times`` the source's own frame times in its
    video time base (a variable-frame-rate source), else frames are ``1/fps`` apart from
    where the source's video starts; ``alpha`` merges the source's alpha, upscaled."""

    codec: OutputCodec
    times: Sequence[int] | None = None
    alpha: bool = False


def timecode_of(container: InputContainer) -> str | None:
    """The start timecode of ``container``: its video's, a timecode track's, or its own."""
    for stream in (*container.streams.video, *container.streams.data):
        if "timecode" in stream.metadata:
            return str(stream.metadata["timecode"])
    return container.metadata.get("timecode")


def conform(pictures: Sequence[_Path], source: _Path, target: _Path, spec: Conform) -> list[str]:
    """Write ``target``: the video of ``pictures`` (the service's upscaled parts, in order; one
    file when the codec copies) with everything of ``source`` a master carries.

    Returns what could not be kept, one line each (e.g. an audio track MP4 cannot carry,
    re-encoded as AAC).

    Raises:
        ValueError: a copying codec is given more than one file.
        MediaError: a file cannot be read, or FFmpeg failed writing ``target``.
    """
    paths = [os.fspath(p) for p in pictures]
    if spec.codec.encoder is None and len(paths) != 1:
        raise ValueError("copying the service's video takes one joined file")
    origin, out_path = os.fspath(source), os.fspath(target)
    try:
        with contextlib.ExitStack() as stack:
            src = stack.enter_context(av.open(origin, metadata_errors="replace"))
            parts = [stack.enter_context(av.open(p, metadata_errors="replace")) for p in paths]
            out = stack.enter_context(av.open(out_path, "w", format=spec.codec.format))
            lost = _write(src, parts, out, spec, stack)
    except AV_ERRORS as exc:
        raise MediaError(f"could not conform {paths[0]} onto {origin}: {exc}", path=origin) from exc
    log.info("conformed %s onto %s as %s: %s", paths[0], origin, spec.codec.name, out_path)
    return lost


def _write(
    src: InputContainer,
    parts: list[InputContainer],
    out: OutputContainer,
    spec: Conform,
    stack: contextlib.ExitStack,
) -> list[str]:
    master = next(s for s in src.streams.video if not is_cover_art(s))
    first = parts[0].streams.video[0]
    size = (first.codec_context.width, first.codec_context.height)
    tick = master.time_base or Fraction(1, 90000)
    clock = _Clock(master, tick, spec.times)
    video = _video_stream(out, first, master, size, spec, tick)
    _carry_metadata(src, out)
    audio = SourceStreams(src, out, mov=spec.codec.format == "mov")
    lost = [
        f"{track} re-encoded as AAC: MP4 cannot carry it (choose a MOV codec to keep it)"
        for track in audio.reencoded
    ]
    with contextlib.suppress(*AV_ERRORS):  # a container without chapters to give
        chapters = src.chapters()
        if chapters:
            out.set_chapters(chapters)
    # Copied packets are small and many: handed over in batches (one GIL handoff each).
    # Encoded ones come a frame's encode apart and can be megabytes (4 MB a 4K ProRes HQ
    # frame): one at a time, so none waits for seven more, held in memory meanwhile.
    batch = _BATCH
    if spec.codec.encoder is None:
        pictures: Iterator[Timed] = _copied(parts[0], video, clock)
    else:
        batch = 1
        alpha = None
        if spec.alpha and spec.codec.alpha_pix_fmt:
            alpha = stack.enter_context(AlphaMerge(src.name, size, spec.codec.alpha_pix_fmt))
        elif spec.alpha:
            lost.append(f"the master's alpha: {spec.codec.name} cannot carry it")
        pix_fmt = video.pix_fmt
        assert pix_fmt is not None  # set by _video_stream for every encoder
        frames = stack.enter_context(
            Prefetch(
                lambda: _decoded(parts, alpha, pix_fmt),
                _FRAMES,
                name="uprez-conform-decode",
            )
        )
        pictures = _encoded(frames, video, clock)
    with (
        Prefetch(lambda: pictures, _DEPTH, batch=batch, name="uprez-conform-video") as moving,
        Prefetch(audio.packets, _DEPTH, batch=32, name="uprez-conform-sound") as sound,
    ):
        for _, packet in heapq.merge(moving, sound, key=lambda item: item[0]):
            out.mux(packet)
    out.mux(audio.flush())
    return lost


class _Clock:
    """Frame ``n``'s time in the master's video time base: its own (``times``), or ``n``
    frames of ``1/fps`` from where its video starts. Times before the first frame or after the
    last (the decode times of B-frames) continue at the frame rate."""

    def __init__(self, master: av.VideoStream, tick: Fraction, times: Sequence[int] | None):
        rate = master.average_rate or master.guessed_rate or Fraction(25)
        self.step = Fraction(1, 1) / (Fraction(rate) * tick)
        self.start = int(master.start_time or 0)
        self.times = list(times) if times else None
        # How long the last frame shows: the master's own, so the result lasts as long.
        self.last = _last_duration(master) if self.times else None

    def duration_at(self, stamp: int) -> int:
        """How long the frame at ``stamp`` shows (until the next frame's time)."""
        if not self.times:
            return max(1, round(self.step))
        at = bisect.bisect_left(self.times, stamp)
        if at + 1 < len(self.times):
            return self.times[at + 1] - self.times[at]
        return self.last or max(1, round(self.step))

    def __call__(self, n: int) -> int:
        if self.times:
            if n < 0:
                return self.times[0] + round(n * self.step)
            if n >= len(self.times):
                return self.times[-1] + round((n - len(self.times) + 1) * self.step)
            return self.times[n]
        return self.start + round(n * self.step)


def _last_duration(master: av.VideoStream) -> int | None:
    """The duration of the master's last frame, read from its last packets."""
    container = master.container
    assert isinstance(container, InputContainer)
    last: tuple[int, int] | None = None
    with contextlib.suppress(*AV_ERRORS):
        end = (master.start_time or 0) + (master.duration or 0)
        container.seek(max(0, end), stream=master, backward=True)
        for packet in container.demux(master):
            if (
                packet.pts is not None
                and packet.duration
                and (last is None or packet.pts > last[0])
            ):
                last = (packet.pts, packet.duration)
        container.seek(0, stream=master)
    return last[1] if last else None


def _video_stream(
    out: OutputContainer,
    first: av.VideoStream,
    master: av.VideoStream,
    size: tuple[int, int],
    spec: Conform,
    tick: Fraction,
) -> av.VideoStream:
    codec = spec.codec
    if codec.encoder is None:
        copied = out.add_stream_from_template(first)
        assert isinstance(copied, av.VideoStream)
        video = copied
    else:
        options = dict(codec.options)
        if codec.profile is not None:
            options["profile"] = codec.profile
        made = out.add_stream(codec.encoder, options=options)
        assert isinstance(made, av.VideoStream)
        video = made
        video.width, video.height = size
        pix_fmt = codec.alpha_pix_fmt if spec.alpha and codec.alpha_pix_fmt else codec.pix_fmt
        video.pix_fmt = pix_fmt or "yuv420p"
        video.codec_context.time_base = tick
        rate = master.average_rate or master.guessed_rate
        if rate:
            video.codec_context.framerate = rate
        video.thread_type = "AUTO"
        if codec.encoder == "libx265":
            video.codec_tag = "hvc1"  # what Apple's players want of HEVC in MP4
    video.time_base = tick
    ctx, mine = master.codec_context, video.codec_context
    mine.color_primaries, mine.color_trc = ctx.color_primaries, ctx.color_trc
    mine.colorspace, mine.color_range = ctx.colorspace, ctx.color_range
    video.sample_aspect_ratio = _aspect(master, size)
    for key in ("language", "title"):
        if key in master.metadata:
            video.metadata[key] = master.metadata[key]
    rotation = _rotation(master)
    if rotation:
        video.set_display_rotation(rotation)
    return video


def _aspect(master: av.VideoStream, size: tuple[int, int]) -> Fraction:
    """The pixel aspect that gives a picture of ``size`` the master's display aspect."""
    ctx = master.codec_context
    sar = master.sample_aspect_ratio or ctx.sample_aspect_ratio or Fraction(1)
    width, height = size
    return Fraction(ctx.width * Fraction(sar) * height, ctx.height * width)


def _rotation(master: av.VideoStream) -> int:
    """The master's display rotation, from its first frame (where PyAV reports it)."""
    container = master.container
    assert isinstance(container, InputContainer)
    with contextlib.suppress(*AV_ERRORS, StopIteration):
        container.seek(0, stream=master)
        frame = next(container.decode(master))
        container.seek(0, stream=master)
        return int(frame.rotation or 0)
    return 0


def _carry_metadata(src: InputContainer, out: OutputContainer) -> None:
    """The content's metadata (title, comment, ...) and the start timecode."""
    for key, value in src.metadata.items():
        if key.lower() not in _FILE_KEYS and not key.lower().endswith(("_uid", "_ul", "_umid")):
            out.metadata[key] = value
    timecode = timecode_of(src)
    if timecode:
        out.metadata["timecode"] = timecode


def _copied(part: InputContainer, video: av.VideoStream, clock: _Clock) -> Iterator[Timed]:
    """The joined result's packets, untouched but re-timed: frame ``n`` at ``clock(n)``."""
    stream = part.streams.video[0]
    skip_other_streams(part, stream)
    rate = stream.average_rate or stream.guessed_rate
    tb = stream.time_base
    assert rate and tb
    per_frame = Fraction(rate) * tb
    origin: int | None = None
    out_tb = video.time_base
    assert out_tb is not None
    seconds = float(out_tb)
    for packet in part.demux(stream):
        if not packet.size or packet.pts is None:
            continue
        dts = packet.dts if packet.dts is not None else packet.pts
        if origin is None:
            origin = packet.pts if packet.is_keyframe else dts
        pts_n = round((packet.pts - origin) * per_frame)
        dts_n = round((dts - origin) * per_frame)
        packet.pts, packet.dts = clock(pts_n), clock(dts_n)
        packet.duration = clock.duration_at(packet.pts)
        packet.time_base, packet.stream = out_tb, video
        yield packet.dts * seconds, packet


def _decoded(
    parts: list[InputContainer], alpha: AlphaMerge | None, pix_fmt: str
) -> Iterator[av.VideoFrame]:
    """Every part's frames in order (with the master's alpha merged in), in ``pix_fmt``.

    Converted here, in the decoding thread, as the FFmpeg command line converts in a filter
    thread of its own (and as it converts: :mod:`uprez.media.pixel_format`), so the encoding
    thread only hands frames to the encoder."""
    convert = Converter(pix_fmt)
    for part in parts:
        stream = part.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in part.decode(stream):
            yield convert(alpha.merge(frame) if alpha is not None else frame)


def _encoded(
    frames: Iterator[av.VideoFrame], video: av.VideoStream, clock: _Clock
) -> Iterator[Timed]:
    """The frames (in the encoder's pixel format) encoded, frame ``n`` at ``clock(n)``."""
    tick = video.codec_context.time_base
    assert tick is not None
    seconds = float(video.time_base or 0)
    for n, picture in enumerate(frames):
        picture.pts, picture.time_base = clock(n), tick
        picture.pict_type = av.video.frame.PictureType.NONE
        picture.duration = clock.duration_at(picture.pts)
        for packet in video.encode(picture):
            yield _stamp(packet, seconds, clock), packet
    for packet in video.encode(None):
        yield _stamp(packet, seconds, clock), packet


def _stamp(packet: av.Packet[Any], seconds: float, clock: _Clock) -> float:
    """The packet's time in seconds to merge by, its duration set to its frame's."""
    if packet.pts is not None:
        packet.duration = clock.duration_at(packet.pts)
    stamp = packet.dts if packet.dts is not None else packet.pts
    return (stamp or 0) * seconds
