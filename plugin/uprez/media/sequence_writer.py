"""Writing frames as numbered image files, each whole or not at all, in a sequence's own format.

:func:`frame_format` chooses how a source's frames are written back: the same FFmpeg encoder,
depth and layout, and what FFmpeg's encoders can keep of the rest:

* EXR: half or float as the source (the encoder's ``format`` option), RGB, RGBA or grey;
  compression none, rle, zips and zip as the source (``compression``: none, rle, zip1, zip16).
  FFmpeg writes no piz, pxr24, b44 or dwa: those are written zip, and :attr:`FrameFormat.notes`
  says so. Floats are rounded to the nearest half here (FFmpeg's encoder would truncate them).
* DPX: 8, 10, 12 or 16 bits in the source's byte order; the header's transfer and colorimetric
  codes copied from the source (FFmpeg's encoder writes its own: "unspecified video" unless the
  frame says bt709 or linear). 10 and 12 bits have no alpha in FFmpeg's encoder: 16-bit RGBA.
* PNG: 8 or 16 bits, RGB, RGBA or grey. TIFF: 8 or 16 bits, RGB(A) or grey, compressed as the
  source (lzw, deflate, packbits or none); a float TIFF is written 16-bit (noted).

:class:`SequenceWriter` writes frames under a target :class:`ImageSequence`'s names, each file
through :func:`uprez.atomic.atomic_path`, encoding on ``workers`` threads (FFmpeg encodes with
the GIL released; a 4K half-float EXR with zip compression is slow to encode alone).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av

from uprez.atomic import atomic_path
from uprez.errors import MediaError
from uprez.media.av_errors import AV_ERRORS
from uprez.media.frame_convert import convert_frame, round_to_half
from uprez.media.image_sequence import ImageSequence
from uprez.media.sequence_frames import SequenceInfo

__all__ = ["FrameFormat", "SequenceWriter", "frame_format", "write_frame"]

log = logging.getLogger(__name__)

# OpenEXR's compression names → FFmpeg's exr encoder's; the rest have no FFmpeg encoder.
_EXR_COMPRESSIONS = {"none": "none", "rle": "rle", "zips": "zip1", "zip": "zip16"}
_TIFF_COMPRESSIONS = {"none": "raw", "lzw": "lzw", "deflate": "deflate", "packbits": "packbits"}
_DPX_TRANSFER, _DPX_COLORIMETRIC = 801, 802  # offsets of the first image element's codes


@dataclass(frozen=True)
class FrameFormat:
    """How frame files are written: FFmpeg's image ``encoder``, the ``pix_fmt`` it is given, its
    ``options``, and for DPX the header's transfer and colorimetric codes to stamp. ``notes``
    say what of the source's format could not be kept."""

    encoder: str
    pix_fmt: str
    options: tuple[tuple[str, str], ...] = ()
    dpx_codes: tuple[int, int] | None = None
    notes: tuple[str, ...] = ()

    @property
    def half(self) -> bool:
        """An EXR written in half floats."""
        return ("format", "half") in self.options


def frame_format(info: SequenceInfo, *, alpha: bool | None = None) -> FrameFormat:
    """The format that writes frames as ``info`` describes the source's: the same encoder,
    depth, layout and what else the encoder can keep. ``alpha`` False writes no alpha even if
    the source had one (the service's results have none); None follows the source."""
    keep_alpha = info.alpha if alpha is None else alpha
    grey = info.pix_fmt.startswith(("gray", "ya"))
    if info.codec == "exr":
        return _exr(info, keep_alpha, grey)
    if info.codec == "dpx":
        return _dpx(info, keep_alpha)
    if info.codec == "tiff":
        return _tiff(info, keep_alpha, grey)
    if info.codec == "png":
        deep = info.bit_depth > 8
        if grey and not keep_alpha:
            return FrameFormat("png", "gray16be" if deep else "gray")
        pix_fmt = {(False, False): "rgb24", (False, True): "rgba"}.get((deep, keep_alpha))
        return FrameFormat("png", pix_fmt or ("rgba64be" if keep_alpha else "rgb48be"))
    raise MediaError(f"frames are not written as {info.codec}")


def write_frame(frame: av.VideoFrame, path: Path, form: FrameFormat) -> Path:
    """Write ``frame`` to ``path`` in ``form``, whole or not at all (its folder made if need
    be); returns ``path``.

    Raises:
        MediaError: the frame cannot be converted or encoded.
    """
    chunks = _encode(frame, form, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
    return path


class SequenceWriter:
    """Writes frames as the files of ``target`` (its folder, head, tail and padding; its numbers
    are the frames expected), in ``form``, on ``workers`` threads.

    ``write(frame, number)`` queues a frame; leaving the ``with`` block (or :meth:`close`) waits
    for every file. A failed frame raises :class:`~uprez.errors.MediaError` at the next write or
    at the close; the files already written are whole, and no half file is ever left.

    >>> with SequenceWriter(target, frame_format(info)) as writer:  # doctest: +SKIP
    ...     for number, frame in zip(target.numbers, frames):
    ...         writer.write(frame, number)
    >>> writer.paths  # doctest: +SKIP
    """

    def __init__(self, target: ImageSequence, form: FrameFormat, *, workers: int = 1) -> None:
        self.target, self.form = target, form
        self._workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[Path]] = deque()
        self._written: list[Path] = []
        self._lock = threading.Lock()

    def __enter__(self) -> SequenceWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._abandon()

    @property
    def paths(self) -> list[Path]:
        """The files written so far, in the order their frames were given."""
        return list(self._written)

    def write(self, frame: av.VideoFrame, number: int) -> Path:
        """Queue ``frame`` as frame ``number``; returns the path it is written to."""
        path = self.target.path(number)
        if self._workers == 1:
            self._written.append(write_frame(frame, path, self.form))
            return path
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="uprez-frames-out")
        while len(self._pending) >= 2 * self._workers:  # a 4K float frame is 100 MB: not many
            self._written.append(self._pending.popleft().result())
        self._pending.append(self._pool.submit(write_frame, frame, path, self.form))
        return path

    def close(self) -> list[Path]:
        """Wait for every queued frame; return all the files written, in order."""
        try:
            while self._pending:
                self._written.append(self._pending.popleft().result())
        finally:
            self._abandon()
        log.debug("wrote %d frames of %s", len(self._written), self.target)
        return self.paths

    def _abandon(self) -> None:
        for future in self._pending:
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # a frame being written finishes, whole
            self._pool = None
        self._pending.clear()


# -- formats ---------------------------------------------------------------------------------------


def _exr(info: SequenceInfo, alpha: bool, grey: bool) -> FrameFormat:
    pix_fmt = "gbrapf32le" if alpha else "grayf32le" if grey else "gbrpf32le"
    source = info.compression or "zip"
    compression = _EXR_COMPRESSIONS.get(source, "zip16")
    notes: tuple[str, ...] = ()
    if source not in _EXR_COMPRESSIONS:
        notes = (f"EXR compression {source} written as zip: FFmpeg's encoder has no {source}",)
    depth = "half" if info.bit_depth <= 16 else "float"
    options = (("format", depth), ("compression", compression))
    return FrameFormat("exr", pix_fmt, options, notes=notes)


def _dpx(info: SequenceInfo, alpha: bool) -> FrameFormat:
    end = "be" if info.big_endian is not False else "le"
    bits = info.bit_depth
    notes: tuple[str, ...] = ()
    if alpha:
        pix_fmt = "rgba" if bits <= 8 else f"rgba64{end}"
        if bits not in (8, 16):
            notes = (f"{bits}-bit DPX with alpha written 16-bit: FFmpeg's encoder has no other",)
    elif bits <= 8:
        pix_fmt = "rgb24"
    elif bits in (10, 12):
        pix_fmt = f"gbrp{bits}{end}"
    else:
        pix_fmt = f"rgb48{end}"
    return FrameFormat("dpx", pix_fmt, dpx_codes=info.dpx_codes, notes=notes)


def _tiff(info: SequenceInfo, alpha: bool, grey: bool) -> FrameFormat:
    deep = info.bit_depth > 8
    notes: tuple[str, ...] = ()
    if info.float_samples:
        notes = ("a float TIFF is written 16-bit: FFmpeg's encoder writes no float TIFF",)
    if grey and not alpha:
        pix_fmt = "gray16le" if deep else "gray"
    elif alpha:
        pix_fmt = "rgba64le" if deep else "rgba"
    else:
        pix_fmt = "rgb48le" if deep else "rgb24"
    compression = _TIFF_COMPRESSIONS.get(info.compression or "", "lzw")
    return FrameFormat("tiff", pix_fmt, (("compression_algo", compression),), notes=notes)


# -- encoding --------------------------------------------------------------------------------------


def _encode(frame: av.VideoFrame, form: FrameFormat, path: Path) -> list[memoryview]:
    """One frame file's bytes, as the encoder's packets (not joined: a 4K float EXR is 100 MB)."""
    try:
        picture = convert_frame(frame, form.pix_fmt)
        if form.half:
            picture = round_to_half(picture)
        context = av.Codec(form.encoder, "w").create("video")
        context.width, context.height, context.pix_fmt = frame.width, frame.height, form.pix_fmt
        context.time_base = Fraction(1, 25)  # an image encoder needs one; no file keeps it
        context.options = dict(form.options)
        picture.pts = None
        packets = [*context.encode(picture), *context.encode(None)]
        chunks = [memoryview(packet) for packet in packets]
    except (*AV_ERRORS, TypeError) as exc:
        message = f"could not write {path} as {form.encoder}: {exc}"
        raise MediaError(message, path=str(path)) from exc
    if form.dpx_codes is not None:
        header = bytearray(chunks[0])  # a DPX is one packet, its header at the start
        header[_DPX_TRANSFER], header[_DPX_COLORIMETRIC] = form.dpx_codes
        chunks[0] = memoryview(header)
    return chunks
