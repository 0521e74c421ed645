"""The proxy of an image sequence: its frames, in number order, as one H.264 file for the service.

Frames ``[first, stop)`` (positions in the sequence, from 0) are read one file at a time, put
through the sequence's OCIO view when it is scene-linear (:mod:`uprez.media.ocio_render`), and
encoded with x264 at the proxy's quality and frame rate, frame ``i`` at ``i / fps``. The proxy is
tagged with what it now is: BT.709 primaries and matrix, the display's transfer (sRGB, or
BT.709 for a video display).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import av

from uprez.errors import MediaError
from uprez.media.av_errors import AV_ERRORS
from uprez.media.image_sequence import ImageSequence
from uprez.media.sequence import read_frames

if TYPE_CHECKING:
    from uprez.step.proxy import Proxy

__all__ = ["encode_proxy"]

log = logging.getLogger(__name__)

# FFmpeg's AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace / AVColorRange codes.
_BT709, _SRGB, _TV = 1, 13, 1


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
            video.codec_context.time_base = 1 / proxy.fps
            ctx = video.codec_context
            ctx.color_primaries, ctx.colorspace, ctx.color_range = _BT709, _BT709, _TV
            display = transform.display if transform is not None else "sRGB"
            ctx.color_trc = _SRGB if "srgb" in display.lower() else _BT709
            for frame in read_frames(seq, first, stop):
                if written == 0:
                    video.width, video.height = frame.width, frame.height
                if transform is not None:
                    from uprez.media.ocio_render import to_display  # OpenColorIO

                    frame = to_display(frame, transform)
                picture = frame.reformat(format="yuv420p", dst_colorspace="ITU709")
                picture.pts, picture.time_base = written, video.codec_context.time_base
                out.mux(video.encode(picture))
                written += 1
            out.mux(video.encode(None))
    except AV_ERRORS as exc:
        raise MediaError(f"could not write the proxy of {seq} to {out_path}: {exc}") from exc
    if written != stop - first:
        raise MediaError(f"{out_path}: wrote {written} frames, not {stop - first}", path=str(seq))
    log.info("proxy of %s frames %d-%d: %s", seq, first, stop - 1, out_path)
    return written
