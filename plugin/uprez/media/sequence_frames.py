"""Reading an image sequence's frames: what they are (:func:`describe_sequence`) and the pictures
themselves, in number order (:func:`read_frames`).

Each frame file is one picture that FFmpeg's image decoders (exr, dpx, png, tiff) read whole.
The description decodes the first frame only; that every frame has the same size and layout is
checked from their headers (:mod:`uprez.media.image_headers`, a few hundred bytes each), and
again as each frame is decoded.

Reading feeds the files' bytes to one decoder (as FFmpeg's image2 demuxer does, without opening
a demuxer per file), a thread reading the next files ahead of it. Half-float EXR frames are
widened to 32-bit float on the way (:mod:`uprez.media.half_float`): every consumer (swscale,
OpenColorIO, the EXR encoder) then sees the values the file holds.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
from av.video.codeccontext import VideoCodecContext

from uprez.errors import InputError, MediaError
from uprez.media.av_errors import AV_ERRORS
from uprez.media.colour import TRANSFERS, name
from uprez.media.half_float import is_float_format, to_float32, widened_format
from uprez.media.image_headers import DPX_TRANSFERS, ImageHeader, read_header
from uprez.media.image_sequence import ImageSequence
from uprez.media.prefetch import Prefetch

__all__ = ["SequenceInfo", "describe_sequence", "read_frames"]

log = logging.getLogger(__name__)

#: FFmpeg's decoder for each image extension (as its image2 demuxer picks it).
DECODERS = {".exr": "exr", ".dpx": "dpx", ".png": "png", ".tif": "tiff", ".tiff": "tiff"}

# DPX transfers that are log encodings of film, not a display's picture.
_LOG_TRANSFERS = frozenset({"printing density", "logarithmic"})


@dataclass(frozen=True)
class SequenceInfo:
    """What the frames of a sequence are, from its first frame.

    ``codec`` is FFmpeg's decoder (``exr``, ``dpx``, ``png``, ``tiff``) and ``pix_fmt`` what it
    decodes to (``gbrpf16le`` for a half-float EXR, ``gbrp10le`` for a 10-bit DPX, ``rgb48be``
    for a 16-bit PNG); :func:`read_frames` yields ``frame_pix_fmt`` (half widened to float).
    ``bit_depth`` is per channel (16 for half float). ``scene_linear``: the samples are floating
    point (EXR; a float TIFF), so scene-linear by convention, to be shown through a view
    transform; integer frames are display-referred as they are. ``transfer`` is the transfer
    FFmpeg reports, by its name (``"linear"`` for EXR; None when unspecified). A DPX's own
    transfer code, which FFmpeg leaves unspecified for film log, is ``dpx_transfer``
    (``"printing density"``, ``"logarithmic"``, ``"linear"``, ...).
    """

    width: int
    height: int
    codec: str
    pix_fmt: str
    bit_depth: int
    float_samples: bool
    alpha: bool
    scene_linear: bool
    transfer: str | None
    frames: int
    size_bytes: int
    #: EXR: the compression by OpenEXR's name ("zip", "piz", "dwaa", ...); TIFF: by its tag
    #: ("lzw", "deflate", "packbits", "none").
    compression: str | None = None
    #: DPX: the header's transfer by SMPTE 268M's name, its codes (transfer, colorimetric) and
    #: byte order, so a result can be written with the same.
    dpx_transfer: str | None = None
    dpx_codes: tuple[int, int] | None = None
    big_endian: bool | None = None

    @property
    def frame_pix_fmt(self) -> str:
        """The pixel format of the frames :func:`read_frames` yields."""
        return widened_format(self.pix_fmt)

    @property
    def log_encoded(self) -> bool:
        """A DPX whose header says film log (printing density, logarithmic): neither linear nor
        a display's picture."""
        return self.dpx_transfer in _LOG_TRANSFERS


def describe_sequence(seq: ImageSequence, *, check_frames: bool = True) -> SequenceInfo:
    """What the frames of ``seq`` are: its first frame decoded, and (with ``check_frames``)
    every frame's header checked to hold a picture of the same size and layout.

    Raises:
        MediaError: the first frame cannot be decoded.
        InputError: a frame is missing, unreadable, or another size or layout than the first.
    """
    first = seq.path(seq.first)
    try:
        with av.open(str(first), format="image2", options={"pattern_type": "none"}) as container:
            stream = container.streams.video[0]
            frame = next(container.decode(stream), None)
            codec = stream.codec_context.name
    except AV_ERRORS as exc:
        raise MediaError(f"{first}: cannot be read as an image ({exc})", path=str(first)) from exc
    if frame is None:
        raise MediaError(f"{first}: holds no picture", path=str(first))
    header = _header(first)
    if check_frames:
        _check_headers(seq, header)
    fmt = frame.format
    floating = is_float_format(fmt.name)
    dpx_codes = _dpx_codes(header)
    info = SequenceInfo(
        width=frame.width,
        height=frame.height,
        codec=codec,
        pix_fmt=fmt.name,
        bit_depth=max(c.bits for c in fmt.components),
        float_samples=floating,
        alpha=any(c.is_alpha for c in fmt.components),
        scene_linear=floating,
        transfer=name(TRANSFERS, frame.color_trc),
        frames=seq.count,
        size_bytes=seq.size_bytes(),
        compression=header.compression if header else None,
        dpx_transfer=DPX_TRANSFERS.get(dpx_codes[0]) if dpx_codes else None,
        dpx_codes=dpx_codes,
        big_endian=header.big_endian if header else None,
    )
    log.debug("%s: %s", seq, info)
    return info


def read_frames(
    seq: ImageSequence,
    first: int = 0,
    stop: int | None = None,
    *,
    native: bool = False,
    prefetch: int = 4,
) -> Iterator[av.VideoFrame]:
    """The frames at positions ``[first, stop)`` of ``seq`` (0 is its first frame; a position,
    not a frame number: see :meth:`ImageSequence.subrange` for numbers), decoded, in number
    order. Frame ``i`` has ``pts`` ``i`` (its position) and, when the sequence has a frame
    rate, time base ``1 / fps``. Half-float frames are widened to 32-bit float unless
    ``native``. ``prefetch`` files are read ahead in a thread (0: none).

    Raises:
        MediaError: a frame cannot be decoded, or is another size or format than the first.
    """
    numbers = seq.numbers[first:stop]
    decoder = DECODERS.get(seq.suffix.lower())
    if decoder is None:
        raise InputError(f"{seq}: not an image sequence uprez reads", path=str(seq))
    time_base = 1 / seq.fps if seq.fps else None
    context = av.Codec(decoder, "r").create("video")
    # Slice threads only: with frame threads a broken file's error would surface at a later one.
    context.thread_type, context.thread_count = "SLICE", 0
    shape: tuple[int, int, str] | None = None
    files = _files(seq, numbers)
    reading = (
        Prefetch(lambda: files, prefetch, name="uprez-frames")
        if prefetch
        else contextlib.nullcontext(files)
    )
    with reading as ahead:
        for position, (path, data) in enumerate(ahead, start=first):
            frame = _decode(context, path, data)
            got = (frame.width, frame.height, frame.format.name)
            if shape is None:
                shape = got
            elif got != shape:
                raise MediaError(
                    f"frame {path.name} of {seq} is {got[0]}x{got[1]} {got[2]}, "
                    f"not {shape[0]}x{shape[1]} {shape[2]} as {seq.path(numbers[0]).name}",
                    path=str(path),
                )
            frame = frame if native else to_float32(frame)
            frame.pts = position
            if time_base is not None:
                frame.time_base = time_base
            yield frame


# -- reading ---------------------------------------------------------------------------------------


def _files(seq: ImageSequence, numbers: tuple[int, ...]) -> Iterator[tuple[Path, bytes]]:
    for number in numbers:
        path = seq.path(number)
        try:
            yield path, path.read_bytes()
        except OSError as exc:
            raise InputError(
                f"frame {path.name} of {seq} cannot be read: {exc.strerror or exc}",
                path=str(path),
            ) from exc


def _decode(context: VideoCodecContext, path: Path, data: bytes) -> av.VideoFrame:
    packet = av.Packet(data)
    # Each file is a whole picture: without the flag FFmpeg's PNG decoder takes a packet for a
    # frame drawn over the one before it (as in APNG), and gets every later frame wrong.
    packet.is_keyframe = True
    try:
        frames = context.decode(packet)
    except AV_ERRORS as exc:
        raise MediaError(f"{path}: cannot be decoded as an image ({exc})", path=str(path)) from exc
    if len(frames) != 1:
        raise MediaError(f"{path}: holds no picture", path=str(path))
    frame = frames[0]
    assert isinstance(frame, av.VideoFrame)
    return frame


# -- headers ---------------------------------------------------------------------------------------


def _header(path: Path) -> ImageHeader | None:
    try:
        return read_header(path)
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror or exc}", path=str(path)) from exc


def _dpx_codes(header: ImageHeader | None) -> tuple[int, int] | None:
    if header is None or header.dpx_transfer is None or header.dpx_colorimetric is None:
        return None
    return header.dpx_transfer, header.dpx_colorimetric


def _check_headers(seq: ImageSequence, first: ImageHeader | None) -> None:
    """Every frame's header against the first's: the same picture size and layout."""
    if first is None:
        log.debug("%s: headers not read; each frame is checked as it is decoded", seq)
        return
    for number in seq.numbers[1:]:
        path = seq.path(number)
        header = _header(path)
        if header is None:
            continue
        if (header.width, header.height, header.layout) != (
            first.width,
            first.height,
            first.layout,
        ):
            raise InputError(
                f"frame {path.name} of {seq} is {header.width}x{header.height} "
                f"({header.layout}), not {first.width}x{first.height} ({first.layout}) "
                f"as {seq.path(seq.first).name}: every frame of a sequence must match",
                path=str(path),
            )
