"""The proxy of an image sequence: its frames, in number order, as one H.264 file for the service.

Frames ``[first, stop)`` (positions in the sequence, from 0) are read one file at a time, put
through the sequence's OCIO view when it is scene-linear (:mod:`uprez.media.ocio_render`), and
encoded with x264 at the proxy's quality and frame rate, frame ``i`` at ``i / fps``. The proxy is
tagged with what it now is: BT.709 primaries and matrix, the display's transfer (sRGB, or
BT.709 for a video display).

Speed. The pictures are made (decoded, through the view, reformatted to yuv420p) in a thread of
their own while this one encodes, as FFmpeg's command line decodes and encodes at once: x264
then never waits for a picture, nor the next decode for x264. A half-float EXR goes to OCIO as
it is decoded (OCIO reads half; widening it first would cost as much again), and each frame's
view is written over the last one's. x264 runs frame threads, as the command line runs it, not
PyAV's default of slice threads. On a shared 2-core machine (benchmarks/bench_sequences.py) a
1080p half EXR sequence through the ACES 2.0 view is made at ~0.95x the speed of the command
line with no colour step at all, a 16-bit PNG sequence at ~1.0x.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import av

from uprez.errors import MediaError
from uprez.media.av_errors import AV_ERRORS
from uprez.media.image_sequence import ImageSequence
from uprez.media.prefetch import Prefetch
from uprez.media.sequence import read_frames

if TYPE_CHECKING:
    from uprez.media.ocio import ViewTransform
    from uprez.step.proxy import Proxy

__all__ = ["encode_proxy"]

log = logging.getLogger(__name__)

# FFmpeg's AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace / AVColorRange codes.
_BT709, _SRGB, _TV = 1, 13, 1
# Pictures made ahead of the encoder: enough to ride over one slow file, few enough to stay small
# (a 1080p yuv420p picture is 3 MB).
_AHEAD = 3


def encode_proxy(
    seq: ImageSequence, first: int, stop: int, target: str | os.PathLike[str], proxy: Proxy
) -> int:
    """Write frames ``[first, stop)`` of ``seq`` as the H.264 proxy ``target``; return how many.

    Raises:
        MediaError: a frame cannot be read, or FFmpeg failed writing ``target``.
    """
    transform = proxy.colour
    written = 0
    out_path = os.fspath(target)
    try:
        with av.open(out_path, "w", format="mp4") as out:
            video = out.add_stream(
                "libx264", rate=proxy.fps, options={"preset": proxy.preset, "crf": str(proxy.crf)}
            )
            assert isinstance(video, av.VideoStream)
            video.pix_fmt = "yuv420p"
            ctx = video.codec_context
            ctx.time_base = 1 / proxy.fps
            ctx.thread_type = "AUTO"  # x264's frame threads, as the command line has them
            ctx.color_primaries, ctx.colorspace, ctx.color_range = _BT709, _BT709, _TV
            display = transform.display if transform is not None else "sRGB"
            ctx.color_trc = _SRGB if "srgb" in display.lower() else _BT709
            making = Prefetch(
                lambda: _pictures(seq, first, stop, transform), _AHEAD, name="uprez-proxy"
            )
            with making as pictures:
                for picture in pictures:
                    if written == 0:
                        video.width, video.height = picture.width, picture.height
                    picture.pts, picture.time_base = written, ctx.time_base
                    out.mux(video.encode(picture))
                    written += 1
            out.mux(video.encode(None))
    except AV_ERRORS as exc:
        raise MediaError(f"could not write the proxy of {seq} to {out_path}: {exc}") from exc
    if written != stop - first:
        raise MediaError(f"{out_path}: wrote {written} frames, not {stop - first}", path=str(seq))
    log.info("proxy of %s frames %d-%d: %s", seq, first, stop - 1, out_path)
    return written


def _pictures(
    seq: ImageSequence, first: int, stop: int, transform: ViewTransform | None
) -> Iterator[av.VideoFrame]:
    """Frames ``[first, stop)`` of ``seq`` as the encoder takes them: through ``transform``'s
    view (when the sequence is scene-linear), then yuv420p with BT.709's matrix, TV range."""
    if transform is not None:
        from uprez.media.ocio_render import to_display  # OpenColorIO

    shown: av.VideoFrame | None = None
    # Half floats stay half: OCIO reads them as they are (see ocio_render).
    for frame in read_frames(seq, first, stop, native=transform is not None):
        if transform is not None:
            # The last frame's view is done with once reformatted: written over, not made anew.
            shown = to_display(frame, transform, into=shown)
        # TV range said, not left to swscale: it keeps an RGB frame's full range (a PNG's), and
        # full-range values in a proxy tagged TV range would come back with their levels
        # stretched (a 16-bit PNG's 85 % green seen as 91 %).
        picture = frame if shown is None else shown
        yield picture.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
