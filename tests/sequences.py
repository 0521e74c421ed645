"""Rendered image sequences made on the fly with PyAV: what the sequence tests read and upscale.

Each maker writes real frames (FFmpeg's own encoders, through PyAV's codec contexts, not uprez's
writer), small (192x108 by default) and fast, and returns the :class:`ImageSequence` it wrote
(built from what it wrote, not found by uprez). ``missing`` leaves frames out (a gap).

The pictures: a grey ramp across the width (0 to 1 in scene-linear EXR, 0 to full scale in the
integer formats), a band of scene-linear highlights above 1.0 along the bottom of an EXR (1 to
16), and a dark bar 8 pixels wide that moves 3 pixels a frame (an edge an upscale must follow).
:func:`linear_picture` and :func:`code_picture` give the values each frame was made from.
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from uprez.media.image_sequence import ImageSequence

__all__ = [
    "code_picture",
    "cropped_exr",
    "dpx_sequence",
    "exr_sequence",
    "farm_chunks",
    "linear_picture",
    "png_sequence",
    "tiff_sequence",
]

WIDTH, HEIGHT = 192, 108
FIRST, COUNT = 1001, 48
HIGHLIGHT_ROWS = 12  # the bottom rows of an EXR hold values above 1.0
BAR = 8  # the moving bar's width, in pixels; it moves 3 pixels a frame


def linear_picture(
    width: int, height: int, index: int, *, alpha: bool = False
) -> NDArray[np.float32]:
    """Frame ``index`` of the scene-linear pictures: RGB(A) float32, shape (height, width, 3|4).

    A grey ramp 0..1 across the width; the bottom :data:`HIGHLIGHT_ROWS` rows 1..16 (highlights
    only a scene-linear file holds); a bar of 0.02 moving 3 pixels a frame; red slightly warmer
    than blue so channels are told apart. Alpha, when asked for, is a ramp down the height.
    """
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)
    grey = np.broadcast_to(ramp, (height, width)).copy()
    grey[height - HIGHLIGHT_ROWS :] = np.geomspace(1.0, 16.0, width, dtype=np.float32)
    left = (3 * index) % max(1, width - BAR)
    grey[: height - HIGHLIGHT_ROWS, left : left + BAR] = 0.02
    rgb = [grey * 1.05, grey, grey * 0.95]
    if alpha:
        rgb.append(
            np.broadcast_to(
                np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None], (height, width)
            )
        )
    # Values a half float holds exactly, so a half EXR of them holds them unchanged (FFmpeg's
    # encoder truncates a float to half rather than rounding it to the nearest).
    return np.ascontiguousarray(np.stack(rgb, axis=-1).astype(np.float16), dtype=np.float32)


def code_picture(
    width: int, height: int, index: int, *, bits: int, alpha: bool = False
) -> NDArray[np.uint16] | NDArray[np.uint8]:
    """Frame ``index`` of the integer pictures at ``bits`` per channel: the ramp over every code
    from 0 to full scale, the moving bar at code 0; RGB(A), uint8 for 8 bits, else uint16."""
    top = (1 << bits) - 1
    ramp = np.round(np.linspace(0, top, width)).astype(np.int64)
    grey = np.broadcast_to(ramp, (height, width)).copy()
    left = (3 * index) % max(1, width - BAR)
    grey[:, left : left + BAR] = 0
    channels = [grey, (grey * 7) // 8, grey // 2]
    if alpha:
        channels.append(
            np.broadcast_to(np.linspace(top, 0, height).astype(np.int64)[:, None], (height, width))
        )
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.ascontiguousarray(np.stack(channels, axis=-1).astype(dtype))


# -- the makers ------------------------------------------------------------------------------------


def exr_sequence(
    folder: Path,
    *,
    name: str = "sh010",
    first: int = FIRST,
    count: int = COUNT,
    width: int = WIDTH,
    height: int = HEIGHT,
    half: bool = True,
    alpha: bool = False,
    compression: str = "zip16",
    missing: Iterable[int] = (),
    fps: Fraction | None = None,
) -> ImageSequence:
    """Scene-linear EXR frames ``{name}.{number:04d}.exr`` (half float unless ``half`` is off),
    pictures from :func:`linear_picture`."""
    pix_fmt = "gbrapf32le" if alpha else "gbrpf32le"
    options = {"format": "half" if half else "float", "compression": compression}

    def picture(index: int) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(
            linear_picture(width, height, index, alpha=alpha), format=pix_fmt
        )

    return _write(
        folder, f"{name}.", ".exr", first, count, missing, fps, "exr", pix_fmt, options, picture
    )


def dpx_sequence(
    folder: Path,
    *,
    name: str = "sh010",
    bits: int = 10,
    first: int = FIRST,
    count: int = COUNT,
    width: int = WIDTH,
    height: int = HEIGHT,
    big_endian: bool = True,
    transfer: int | None = None,
    missing: Iterable[int] = (),
    fps: Fraction | None = None,
) -> ImageSequence:
    """DPX frames ``{name}_{number:04d}.dpx``, 10-bit (or 8, 12, 16) big-endian as film
    scanners and Nuke write them (``big_endian`` off: little-endian). ``transfer`` stamps the
    header's transfer code (1: printing density, 3: logarithmic; the encoder writes 4,
    unspecified video) and colorimetric code (1 for log, else the same)."""
    end = "be" if big_endian else "le"
    pix_fmt = {8: "rgb24", 10: f"gbrp10{end}", 12: f"gbrp12{end}", 16: f"rgb48{end}"}[bits]

    def picture(index: int) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(
            code_picture(width, height, index, bits=bits), format=pix_fmt
        )

    def stamp(data: bytes) -> bytes:
        if transfer is None:
            return data
        header = bytearray(data)
        header[801], header[802] = transfer, 1 if transfer in (1, 3) else transfer
        return bytes(header)

    return _write(
        folder, f"{name}_", ".dpx", first, count, missing, fps, "dpx", pix_fmt, {}, picture, stamp
    )


def png_sequence(
    folder: Path,
    *,
    name: str = "sh010",
    bits: int = 16,
    alpha: bool = False,
    first: int = FIRST,
    count: int = COUNT,
    width: int = WIDTH,
    height: int = HEIGHT,
    missing: Iterable[int] = (),
    fps: Fraction | None = None,
) -> ImageSequence:
    """PNG frames ``{name}.{number:04d}.png``, 16-bit (or 8), RGB (or RGBA)."""
    pix_fmt = {
        (8, False): "rgb24",
        (8, True): "rgba",
        (16, False): "rgb48be",
        (16, True): "rgba64be",
    }[bits, alpha]

    def picture(index: int) -> av.VideoFrame:
        array = code_picture(width, height, index, bits=bits, alpha=alpha)
        return av.VideoFrame.from_ndarray(array, format=pix_fmt)

    return _write(
        folder, f"{name}.", ".png", first, count, missing, fps, "png", pix_fmt, {}, picture
    )


def tiff_sequence(
    folder: Path,
    *,
    name: str = "sh010",
    bits: int = 16,
    first: int = FIRST,
    count: int = COUNT,
    width: int = WIDTH,
    height: int = HEIGHT,
    extension: str = ".tif",
    missing: Iterable[int] = (),
    fps: Fraction | None = None,
) -> ImageSequence:
    """TIFF frames ``{name}.{number:04d}.tif``, 16-bit (or 8) RGB, deflate-compressed."""
    pix_fmt = "rgb48le" if bits == 16 else "rgb24"

    def picture(index: int) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(
            code_picture(width, height, index, bits=bits), format=pix_fmt
        )

    options = {"compression_algo": "deflate"}
    return _write(
        folder, f"{name}.", extension, first, count, missing, fps, "tiff", pix_fmt, options, picture
    )


def farm_chunks(
    folder: Path,
    *,
    chunk: int = 8,
    seed: int = 16,
    make: Callable[..., ImageSequence] = exr_sequence,
    **options: object,
) -> tuple[ImageSequence, list[int]]:
    """A sequence as a render farm leaves it: written chunk by chunk (``chunk`` frames a task)
    in a shuffled order, each frame's modification time that of its chunk's finish, so neither
    the files' order on disk nor their times follow the frame numbers. Returns the sequence and
    the frame numbers in the order they were written."""
    staging = folder / ".staging"
    seq = make(staging, **options)
    chunks = [seq.numbers[i : i + chunk] for i in range(0, seq.count, chunk)]
    random.Random(seed).shuffle(chunks)
    folder.mkdir(parents=True, exist_ok=True)
    order: list[int] = []
    clock = 1_700_000_000_000_000_000  # ns: a fixed time, a second a chunk
    for step, numbers in enumerate(chunks):
        for number in reversed(numbers):  # a task may finish its frames in any order too
            target = folder / seq.frame_name(number)
            os.replace(seq.path(number), target)
            finished = clock + step * 1_000_000_000 + (number % chunk) * 1_000_000
            os.utime(target, ns=(finished, finished))
            order.append(number)
    staging.rmdir()
    return ImageSequence(folder, seq.head, seq.tail, seq.padding, seq.numbers, seq.fps), order


def cropped_exr(
    path: Path,
    *,
    width: int = 64,
    height: int = 36,
    window: tuple[int, int, int, int],
    value: float = 0.5,
) -> Path:
    """An uncompressed half-float RGB EXR whose data window ``(x0, y0, x1, y1)`` is smaller than
    its display window (``width`` x ``height``), as Nuke's autocrop writes: pixels in the data
    window are ``value``. FFmpeg cannot write one, so it is written here by OpenEXR's layout."""
    x0, y0, x1, y1 = window

    def attribute(name: str, kind: str, data: bytes) -> bytes:
        return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(data)) + data

    channels = b"".join(c.encode() + b"\0" + struct.pack("<iB3xii", 1, 0, 1, 1) for c in "BGR")
    header = struct.pack("<ii", 20000630, 2) + b"".join(
        [
            attribute("channels", "chlist", channels + b"\0"),
            attribute("compression", "compression", b"\0"),
            attribute("dataWindow", "box2i", struct.pack("<4i", *window)),
            attribute("displayWindow", "box2i", struct.pack("<4i", 0, 0, width - 1, height - 1)),
            attribute("lineOrder", "lineOrder", b"\0"),
            attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
            attribute("screenWindowCenter", "v2f", struct.pack("<2f", 0.0, 0.0)),
            attribute("screenWindowWidth", "float", struct.pack("<f", 1.0)),
            b"\0",
        ]
    )
    row = np.full(x1 - x0 + 1, value, np.float16).tobytes() * 3
    lines = [struct.pack("<ii", y, len(row)) + row for y in range(y0, y1 + 1)]
    start = len(header) + 8 * len(lines)
    offsets = [start + i * len(lines[0]) for i in range(len(lines))]
    path.write_bytes(header + struct.pack(f"<{len(lines)}Q", *offsets) + b"".join(lines))
    return path


# -- writing ---------------------------------------------------------------------------------------


def _write(
    folder: Path,
    head: str,
    tail: str,
    first: int,
    count: int,
    missing: Iterable[int],
    fps: Fraction | None,
    codec: str,
    pix_fmt: str,
    options: dict[str, str],
    picture: Callable[[int], av.VideoFrame],
    finish: Callable[[bytes], bytes] = bytes,
) -> ImageSequence:
    folder.mkdir(parents=True, exist_ok=True)
    skipped = set(missing)
    numbers = [n for n in range(first, first + count) if n not in skipped]
    for number in numbers:
        frame = picture(number - first)
        context = av.CodecContext.create(codec, "w")
        context.width, context.height, context.pix_fmt = frame.width, frame.height, pix_fmt
        context.time_base = Fraction(1, 24)
        context.options = dict(options)
        data = b"".join(bytes(p) for p in [*context.encode(frame), *context.encode(None)])
        (folder / f"{head}{number:04d}{tail}").write_bytes(finish(data))
    return ImageSequence(folder, head, tail, 4, tuple(numbers), fps)
