"""The clip ``uprez demo`` upscales: a moving test chart with detail an upscale must keep.

A gradient shows nothing of an upscale; this chart does. At 640x360 it holds:

* text at four sizes in a 5x7 bitmap font kept in code (:mod:`uprez.media.bitmap_font`, no
  font file), the smallest 7.5 pixels tall, and two lines of it scrolling at 1.5 and 0.5
  pixels a frame;
* a zone plate (concentric rings whose frequency rises to the finest a 640x360 picture holds
  at its rim) whose rings move, a Siemens star, and a fan of one-pixel lines at many angles;
* groups of one-pixel lines two, three and four pixels apart, across and down;
* a frame counter, a colour strip, and a beep at each whole second, so sound and picture can
  be checked together after the upscale.

It is drawn at twice its size and reduced by averaging, as a camera or a renderer's
anti-aliasing would: edges fall between pixels, so an enlargement that only repeats pixels
shows stairs where a good upscale draws them smooth. Pixels are written with ``bytes``: what
does not move is drawn once (:mod:`uprez.media.chart_canvas`), the rings move by a table
lookup (``bytes.translate``), the scrolling text by slicing, and FFmpeg's scaler reduces each
frame, so a few seconds of it are made in well under a second, without NumPy.
"""

from __future__ import annotations

import array
import logging
import math
import os
from fractions import Fraction
from pathlib import Path

import av

from uprez.errors import MediaError
from uprez.media.bitmap_font import text_mask
from uprez.media.chart_canvas import INK, Canvas, ring_table, zone_plate

__all__ = ["DEMO_SIZE", "make_demo_clip"]

log = logging.getLogger(__name__)

#: The chart's size: it is laid out for it.
DEMO_SIZE = (640, 360)
_W, _H = DEMO_SIZE
# It is drawn S times larger (a canvas of _CW x _CH), then reduced by averaging.
S = 2
_CW, _CH = _W * S, _H * S
_RATE = 48000

_TICKER_FAST = "FINE TEXT, THIN LINES, A ZONE PLATE AND A STAR: DETAIL AN UPSCALE MUST KEEP  *  "
_TICKER_SLOW = (
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG. 0123456789 (+-=/%) PACK MY BOX WITH FIVE "
    "DOZEN LIQUOR JUGS!  *  "
)
_PARAGRAPH = (
    "FIVE BY SEVEN DOT TEXT,",
    "1.5 PIXELS A DOT: ITS",
    "EDGES FALL BETWEEN THE",
    "PIXELS, AS A CAMERA'S DO.",
    "ENLARGED NAIVELY IT IS",
    "ALL STAIRS AND BLOCKS;",
    "A GOOD UPSCALE KEEPS IT.",
)

Rgb = tuple[int, int, int]


def _grey(rgb: Rgb) -> int:
    """The luma of an RGB colour (BT.601, full range): its value on the grey canvas."""
    r, g, b = rgb
    return round(0.299 * r + 0.587 * g + 0.114 * b)


def _chroma(rgb: Rgb) -> tuple[int, int]:
    """The Cb and Cr of an RGB colour (BT.601, video range)."""
    r, g, b = rgb
    cb = 128 + (-0.1687 * r - 0.3313 * g + 0.5 * b) * 224 / 255
    cr = 128 + (0.5 * r - 0.4187 * g - 0.0813 * b) * 224 / 255
    return round(cb), round(cr)


_BACKGROUND = 48
_BAR = (24, 28, 100)  # the title bar's deep blue
_BAR_GREY = _grey(_BAR)
_TITLE_BAR = 32
_STRIP_TOP = 334
# The colour strip: red, green, blue, cyan, magenta, yellow, white, black.
_SWATCHES = (
    (220, 30, 30),
    (30, 200, 40),
    (30, 40, 220),
    (30, 210, 220),
    (210, 40, 200),
    (230, 220, 30),
    (235, 235, 235),
    (16, 16, 16),
)


def _static() -> tuple[Canvas, bytes, bytes]:
    """What does not move: the canvas each frame starts from, and the chart's chroma planes."""
    canvas = Canvas(_CW, _CH, _BACKGROUND)
    cb, cr = bytearray([128]) * (_W * _H // 4), bytearray([128]) * (_W * _H // 4)
    canvas.rect(0, 0, _CW, _TITLE_BAR * S, _BAR_GREY)
    _tint(cb, cr, 0, _TITLE_BAR, 0, _W, _BAR)
    canvas.text("UPREZ DEMO: A 640x360 SOURCE", 10 * S, 9 * S, 2 * S, _BAR_GREY)
    canvas.star(535 * S, 150 * S, 85 * S, core=4 * S)
    canvas.text("UPSCALE", 208 * S, 40 * S, 3 * S, _BACKGROUND)
    canvas.text("FINE DETAIL", 208 * S, 66 * S, 2 * S, _BACKGROUND)
    for row, words in enumerate(_PARAGRAPH):  # 1.5 chart pixels a dot, 12.5 a line
        canvas.text(words, 208 * S, 88 * S + row * 25, 3, _BACKGROUND)
    for block, period in enumerate((2, 3, 4)):
        canvas.line_pairs((208 + block * 30) * S, 180 * S, 26, period, dot=S)
    canvas.fan((306 + 0.5) * S, (236 + 0.5) * S, 62 * S, thickness=S)
    canvas.text("ZONE PLATE", 74 * S, 240 * S, 3, _BACKGROUND)
    canvas.text("SIEMENS STAR", 496 * S, 240 * S, 3, _BACKGROUND)
    canvas.text("LINES 2 3 4 PX APART", 208 * S, 240 * S, 3, _BACKGROUND)
    swatch = _W // len(_SWATCHES)
    for index, rgb in enumerate(_SWATCHES):
        canvas.rect(
            index * swatch * S, _STRIP_TOP * S, swatch * S, (_H - _STRIP_TOP) * S, _grey(rgb)
        )
        _tint(cb, cr, _STRIP_TOP, _H, index * swatch, (index + 1) * swatch, rgb)
    return canvas, bytes(cb), bytes(cr)


def _tint(
    cb: bytearray, cr: bytearray, top: int, bottom: int, left: int, right: int, rgb: Rgb
) -> None:
    """Colour rows ``top`` to ``bottom`` and columns ``left`` to ``right`` of the chart (even
    numbers: the chroma planes are half its size each way)."""
    u, v = _chroma(rgb)
    width = (right - left) // 2
    for row in range(top // 2, bottom // 2):
        start = row * (_W // 2) + left // 2
        cb[start : start + width] = bytes([u]) * width
        cr[start : start + width] = bytes([v]) * width


def _ticker(text: str, scale: int, ink: int, paper: int) -> tuple[int, list[bytes]]:
    """A scrolling line: the width of one period of ``text`` and its canvas rows, each twice
    over and a canvas wide more, so a window slides along it."""
    width, _, rows = text_mask(text, scale)
    table = bytes([paper, ink]) + bytes(254)
    repeat = 2 + _CW // width
    return width, [row.translate(table) * repeat for row in rows]


class _Chart:
    """Draws each frame."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.static, self.cb, self.cr = _static()
        # Rings up to the finest the chart holds at the rim: half a cycle a chart pixel.
        self.plate = zone_plate(85 * S, rim_frequency=0.5 / S)
        self.tables = [ring_table(phase) for phase in range(0, 256, 8)]
        # (canvas top, canvas pixels a frame, the line): 1.5 and 0.5 chart pixels a frame.
        self.tickers = (
            (262 * S, 3, _ticker(_TICKER_FAST, 2 * S, INK, 24)),
            (290 * S, -1, _ticker(_TICKER_SLOW, 3, 200, _BACKGROUND)),
        )

    def canvas(self, index: int) -> Canvas:
        """Frame ``index`` drawn at the canvas's size."""
        canvas = self.static.copy()
        canvas.rings(105 * S, 150 * S, self.plate, self.tables[index % len(self.tables)])
        for top, step, (period, rows) in self.tickers:
            shift = (index * step) % period
            for dy, row in enumerate(rows):
                canvas.row(top + dy, row[shift:])
        counter = f"FRAME {index + 1:03d}/{self.frames:03d}"
        canvas.text(counter, _CW - (12 * len(counter) + 8) * S, 9 * S, 2 * S, _BAR_GREY)
        return canvas

    def frame(self, index: int) -> av.VideoFrame:
        """Frame ``index`` at the chart's size: the canvas averaged down, and the colours."""
        big = av.VideoFrame(_CW, _CH, "gray")
        _fill(big, (self.canvas(index).pixels,))
        frame = big.reformat(_W, _H, format="yuv420p", interpolation="AREA")
        _fill(frame, (bytes(_plane(frame, 0)), self.cb, self.cr))
        return frame


def _plane(frame: av.VideoFrame, index: int) -> bytes:
    """A plane's pixels, tightly packed (without the padding at the end of its rows)."""
    plane = frame.planes[index]
    data = bytes(plane)
    if plane.line_size == plane.width:
        return data[: plane.width * plane.height]
    return b"".join(
        data[row * plane.line_size : row * plane.line_size + plane.width]
        for row in range(plane.height)
    )


def _fill(frame: av.VideoFrame, planes: tuple[bytes | bytearray, ...]) -> None:
    """Copy tightly packed planes into the frame's (whose rows may be padded)."""
    for plane, data in zip(frame.planes, planes, strict=True):
        width = plane.width
        if plane.line_size == width:
            plane.update(bytes(data))
            continue
        padded = bytearray(plane.buffer_size)
        for row in range(plane.height):
            at = row * plane.line_size
            padded[at : at + width] = data[row * width : (row + 1) * width]
        plane.update(bytes(padded))


def _beeps(seconds: float) -> bytes:
    """Mono signed 16-bit samples: a 1 kHz beep for the first tenth of every second."""
    step = 2 * math.pi * 1000 / _RATE
    samples = array.array(
        "h",
        (
            int(6000 * math.sin(step * i)) if i % _RATE < _RATE // 10 else 0
            for i in range(round(seconds * _RATE))
        ),
    )
    return samples.tobytes()


def make_demo_clip(
    path: str | os.PathLike[str],
    *,
    seconds: float = 2.0,
    fps: int = 24,
    audio: bool = True,
) -> Path:
    """Write the demo chart (:data:`DEMO_SIZE`, H.264 at a quality high enough for its detail
    to survive the encoder) as an MP4 of ``seconds`` at ``fps``, with a beep each second when
    ``audio`` is true. Returns its path.

    Raises:
        ValueError: the clip would have no frames.
        MediaError: FFmpeg could not write the file.
    """
    target = Path(path)
    frames = round(seconds * fps)
    if frames <= 0:
        raise ValueError(f"a clip of {seconds} s at {fps} fps would have no frames")
    try:
        _write(target, frames, fps, seconds if audio else 0.0)
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(
            f"could not write the demo clip {target}: {exc}", path=str(target)
        ) from exc
    log.debug("wrote the demo chart %s: %d frames at %d fps", target, frames, fps)
    return target


def _write(target: Path, frames: int, fps: int, seconds: float) -> None:
    chart = _Chart(frames)
    with av.open(str(target), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "12", "preset": "fast"})
        if not isinstance(video, av.VideoStream):  # pragma: no cover - PyAV bundles x264
            raise MediaError("FFmpeg's H.264 encoder is not available")
        video.width, video.height, video.pix_fmt = _W, _H, "yuv420p"
        sound = None
        if seconds:
            stream = out.add_stream("aac", rate=_RATE)
            if not isinstance(stream, av.AudioStream):  # pragma: no cover - bundled too
                raise MediaError("FFmpeg's AAC encoder is not available")
            stream.layout = "mono"
            sound = stream
        for index in range(frames):
            frame = chart.frame(index)
            frame.pts, frame.time_base = index, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            pcm = _beeps(seconds)
            total = len(pcm) // 2
            for start in range(0, total, 1024):
                count = min(1024, total - start)
                chunk = av.AudioFrame(format="s16", layout="mono", samples=count)
                chunk.planes[0].update(pcm[start * 2 : (start + count) * 2])
                chunk.sample_rate, chunk.pts, chunk.time_base = _RATE, start, Fraction(1, _RATE)
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
