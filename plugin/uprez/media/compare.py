"""Comparison pictures: the same frames of a source video and its upscale, side by side, as a PNG.

People judge upscaling by looking. :func:`write_comparison` picks a few evenly spaced moments,
decodes the frame shown at each one from both files and lays them out in one picture:

* one row per moment: on the left the source frame enlarged to the result's height with
  nearest-neighbour scaling (so its real pixels show as blocks, not as a blur), on the right the
  result frame;
* a last "1:1 crop" row: the centre of the result at 100 % next to the same region of the
  nearest-neighbour-enlarged source, so fine detail can be judged without any scaling.

Panels are parted by thin mid-grey bands. Pictures are shown as stored (a display rotation is not
applied). Only the chosen frames are decoded and held, one pair at a time.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
from av.container import InputContainer

from uprez.atomic import write_bytes_atomic
from uprez.errors import MediaError
from uprez.media.probe import Probe, is_cover_art, probe

__all__ = ["MAX_WIDTH", "SEPARATOR", "write_comparison"]

log = logging.getLogger(__name__)

#: Width in pixels of the mid-grey bands between panels.
SEPARATOR = 4
#: Widest picture written: wider frame rows are scaled down to fit (the 1:1 crop row never is).
MAX_WIDTH = 4096
_GREY = 128
_MAX_CROP = (MAX_WIDTH - SEPARATOR) // 2
# The narrowest picture asked for: two frame panels still a few dozen pixels wide.
_MIN_WIDTH = 64


def write_comparison(
    source: str | os.PathLike[str],
    result: str | os.PathLike[str],
    png: str | os.PathLike[str],
    *,
    frames: int = 3,
    crop: int = 256,
    max_width: int = MAX_WIDTH,
) -> Path:
    """Write a PNG comparing ``frames`` moments of ``source`` and its upscale ``result``.

    The moments are evenly spaced (at 1/(n+1), 2/(n+1), ... of the source), each snapped to a
    source frame; from each file the first frame shown at or after that time is used, so two
    files with the same frame rate show the same frame number. The crop row shows a centre square
    of ``crop`` pixels (less if the result is smaller) of the middle moment. Rows wider than
    ``max_width`` (:data:`MAX_WIDTH` by default) are scaled down as a whole: a smaller one
    makes a smaller file, and the crop row still shows the result's pixels 1:1. The PNG is
    written to a temporary name beside ``png`` and renamed into place, so ``png`` is never
    left half-written. Returns its path.

    Raises:
        MediaError: a file is not a readable video, or the picture could not be written.
        ValueError: ``frames`` is below 1, ``crop`` is not between 1 and 2046, or
            ``max_width`` is not between 64 and :data:`MAX_WIDTH`.
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be a positive integer, not {frames!r}")
    if isinstance(crop, bool) or not isinstance(crop, int) or not 1 <= crop <= _MAX_CROP:
        raise ValueError(f"crop must be an integer from 1 to {_MAX_CROP}, not {crop!r}")
    if (
        isinstance(max_width, bool)
        or not isinstance(max_width, int)
        or not _MIN_WIDTH <= max_width <= MAX_WIDTH
    ):
        raise ValueError(
            f"max_width must be an integer from {_MIN_WIDTH} to {MAX_WIDTH}, not {max_width!r}"
        )
    src, res = probe(source), probe(result)
    target = Path(png)
    layout = _Layout(src, res, frames, crop, max_width)
    try:
        with (
            av.open(src.path, metadata_errors="replace") as src_in,
            av.open(res.path, metadata_errors="replace") as res_in,
        ):
            data = layout.compose(_Reader(src_in, src), _Reader(res_in, res), _times(src, frames))
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, RuntimeError, UnicodeError) as exc:
        raise MediaError(
            f"could not compare {src.path} with {res.path}: {exc}", path=src.path
        ) from exc
    _write_atomically(target, data)
    log.info("wrote %s: %dx%d, %d frame(s)", target, layout.width, layout.height, frames)
    return target


def _times(info: Probe, count: int) -> list[Fraction]:
    """Seconds from the first frame to ``count`` evenly spaced source frames."""
    total = max(info.frames, 1)
    indexes = [min(k * total // (count + 1), total - 1) for k in range(1, count + 1)]
    return [Fraction(i) / info.fps for i in indexes]


class _Reader:
    """Finds frames by time in one open video file, seeking to the keyframe before each."""

    def __init__(self, container: InputContainer, info: Probe) -> None:
        self.container = container
        self.path = info.path
        self.stream = next(s for s in container.streams.video if not is_cover_art(s))
        self.stream.thread_type = "AUTO"
        if self.stream.time_base is None:
            raise MediaError(f"{info.path}: the video stream has no time base", path=info.path)
        self.time_base = Fraction(self.stream.time_base)
        self.start = int(self.stream.start_time or 0)
        self.slack = 1 / (2 * info.fps * self.time_base)  # half a frame, in time_base ticks

    def frame_at(self, seconds: Fraction) -> av.VideoFrame:
        """The first frame at or after ``seconds`` (the last frame if none is), as RGB24."""
        wanted = self.start + seconds / self.time_base - self.slack
        self.container.seek(max(int(wanted), self.start), stream=self.stream, backward=True)
        last: av.VideoFrame | None = None
        for packet in self.container.demux(self.stream):
            for frame in packet.decode():
                if not isinstance(frame, av.VideoFrame):
                    continue
                last = frame
                if frame.pts is None or frame.pts >= wanted:
                    return frame.reformat(format="rgb24")
        if last is None:
            raise MediaError(
                f"{self.path}: no frame could be decoded at {float(seconds):.3f} s", path=self.path
            )
        return last.reformat(format="rgb24")


class _Layout:
    """Panel sizes and positions; :meth:`compose` fills in the picture."""

    def __init__(self, src: Probe, res: Probe, rows: int, crop: int, max_width: int) -> None:
        self.res_size = (res.width, res.height)
        left = max(1, round(Fraction(src.width * res.height, src.height)))
        scale = min(Fraction(1), Fraction(max_width - SEPARATOR, left + res.width))
        self.left_w = max(1, int(left * scale))
        self.right_w = max(1, int(res.width * scale))
        self.row_h = max(1, int(res.height * scale))
        self.crop = min(crop, res.width, res.height)  # a square, never scaled
        self.rows = rows
        self.width = max(self.left_w + SEPARATOR + self.right_w, 2 * self.crop + SEPARATOR)
        self.height = rows * (self.row_h + SEPARATOR) + self.crop
        self.canvas = av.VideoFrame(self.width, self.height, "rgb24")
        self.line = self.canvas.planes[0].line_size

    def compose(self, src: _Reader, res: _Reader, times: list[Fraction]) -> bytes:
        """Decode each pair of frames, place them, and return the picture encoded as PNG."""
        pixels = memoryview(self.canvas.planes[0])  # written in place, row by row
        pixels[:] = bytes([_GREY]) * len(pixels)
        for row, seconds in enumerate(times):
            source, result = src.frame_at(seconds), res.frame_at(seconds)
            top = row * (self.row_h + SEPARATOR)
            left = source.reformat(self.left_w, self.row_h, interpolation="POINT")
            self._blit(pixels, left, 0, top)
            if (result.width, result.height) != (self.right_w, self.row_h):
                result_panel = result.reformat(self.right_w, self.row_h, interpolation="AREA")
            else:
                result_panel = result
            self._blit(pixels, result_panel, self.left_w + SEPARATOR, top)
            if row == len(times) // 2:
                self._crop_row(pixels, source, result)
        return _encode_png(self.canvas)

    def _crop_row(self, pixels: memoryview, source: av.VideoFrame, result: av.VideoFrame) -> None:
        """The centre of the result at 1:1, beside the same region of the enlarged source."""
        width, height = self.res_size
        enlarged = source.reformat(width, height, interpolation="POINT")
        x0, y0 = (width - self.crop) // 2, (height - self.crop) // 2
        top = self.rows * (self.row_h + SEPARATOR)
        region = (x0, y0, self.crop, self.crop)
        self._blit(pixels, enlarged, 0, top, region)
        self._blit(pixels, result, self.crop + SEPARATOR, top, region)

    def _blit(
        self,
        pixels: memoryview,
        frame: av.VideoFrame,
        x: int,
        y: int,
        region: tuple[int, int, int, int] | None = None,
    ) -> None:
        """Copy ``region`` (x, y, width, height; all by default) of an RGB24 frame to (x, y)."""
        rx, ry, rw, rh = region or (0, 0, frame.width, frame.height)
        plane = frame.planes[0]
        data, stride = memoryview(plane), plane.line_size
        for row in range(rh):
            start = (ry + row) * stride + rx * 3
            at = (y + row) * self.line + x * 3
            pixels[at : at + rw * 3] = data[start : start + rw * 3]


def _encode_png(picture: av.VideoFrame) -> bytes:
    codec = av.CodecContext.create("png", "w")
    if not isinstance(codec, av.VideoCodecContext):
        raise MediaError("FFmpeg's PNG encoder is not available")
    codec.width, codec.height = picture.width, picture.height
    codec.pix_fmt = "rgb24"
    codec.time_base = Fraction(1, 1)
    packets = codec.encode(picture) + codec.encode(None)
    if len(packets) != 1:
        raise MediaError(f"the PNG encoder returned {len(packets)} packets instead of one")
    return bytes(packets[0])


def _write_atomically(target: Path, data: bytes) -> None:
    """The picture at ``target`` whole (synced to the disk) or not at all; a file that cannot
    be written is a MediaError naming it, as every failure of a comparison is."""
    try:
        write_bytes_atomic(target, data, fsync=True)
    except OSError as exc:
        reason = exc.strerror or exc
        raise MediaError(f"could not write {target}: {reason}", path=str(target)) from exc
