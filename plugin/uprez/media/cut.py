"""Cut frames ``[first, stop)`` of a video into an MP4 of their own: a stream copy from keyframe
to keyframe, or a re-encode (libx264) that may start on any frame.

The copy is exact and fast but can only cut at keyframes; the re-encode costs time and a
generation of quality, and is what a cut between keyframes needs. Frames are counted in
presentation order from 0, as in :mod:`uprez.media.keyframes`.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction

import av
from av.container import InputContainer, OutputContainer

from uprez.errors import MediaError
from uprez.media.av_errors import AV_ERRORS
from uprez.media.keyframes import VideoIndex, index_video, skip_other_streams
from uprez.media.probe import probe

__all__ = ["cut_segment"]

# The name segment cutting and joining have always logged under (callers filter by it).
log = logging.getLogger("uprez.media.segments")

_Path = str | os.PathLike[str]
_Span = tuple[int, int | None]


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
    except AV_ERRORS as exc:
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
