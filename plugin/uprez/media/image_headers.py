"""The size and layout of an image file from its header alone: EXR, DPX, PNG and TIFF.

Every frame of a sequence must be the same picture size and layout, and decoding each to find
out would cost as much as the upscale's proxy; a header is a few hundred bytes at the start of
the file. What is read here is what FFmpeg's decoders make the picture of: an EXR's display
window (a data window cropped smaller, as Nuke's autocrop writes, is placed inside it), a
DPX's image element, a PNG's IHDR, a TIFF's first directory.

A DPX's transfer and colorimetric codes are read too: FFmpeg reports printing density and
logarithmic frames as unspecified, and writing them back needs the codes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["DPX_TRANSFERS", "EXR_COMPRESSIONS", "ImageHeader", "read_header"]

#: DPX (SMPTE 268M) transfer characteristic codes, by the standard's names.
DPX_TRANSFERS = {
    0: "user-defined",
    1: "printing density",
    2: "linear",
    3: "logarithmic",
    4: "unspecified video",
    5: "smpte 274m",
    6: "itu-r 709-4",
    7: "itu-r 601-5 b/g",
    8: "itu-r 601-5 m",
    9: "composite ntsc",
    10: "composite pal",
    11: "z linear",
    12: "z homogeneous",
}

#: OpenEXR compression codes, by OpenEXR's names.
EXR_COMPRESSIONS = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab")

_EXR_PIXEL_TYPES = ("uint", "half", "float")
_HEAD = 64 * 1024  # an EXR header with a preview image can be long; more is not looked at


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says. ``layout`` is what else must match between frames of one
    sequence (channels and sample type: ``"B,G,R half"``, ``"rgb 10-bit"``)."""

    width: int
    height: int
    layout: str
    #: EXR: the compression by OpenEXR's name ("zip", "piz", "dwaa", ...); TIFF: by its tag's
    #: ("none", "lzw", "deflate", "packbits", ...).
    compression: str | None = None
    #: DPX: the transfer and colorimetric codes of the first image element, and byte order.
    dpx_transfer: int | None = None
    dpx_colorimetric: int | None = None
    big_endian: bool | None = None


def read_header(path: Path) -> ImageHeader | None:
    """The header of the image at ``path``, or None when it is not one this module reads
    (an unknown or damaged header, a BigTIFF): decoding it is then the only check.

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as handle:
        data = handle.read(_HEAD)
        try:
            if data[:4] == b"\x76\x2f\x31\x01":
                return _exr(data)
            if data[:4] in (b"SDPX", b"XPDS"):
                return _dpx(data)
            if data[:8] == b"\x89PNG\r\n\x1a\n":
                return _png(data)
            if data[:4] in (b"II*\x00", b"MM\x00*"):
                return _tiff(data, handle)
        except (struct.error, IndexError, ValueError, UnicodeDecodeError):
            pass
    return None


def _exr(data: bytes) -> ImageHeader | None:
    pos, attributes = 8, {}
    while data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        (size,) = struct.unpack_from("<i", data, type_end + 1)
        start = type_end + 5
        if start + size > len(data):
            return None
        attributes[data[pos:name_end].decode()] = data[start : start + size]
        pos = start + size
    x0, y0, x1, y1 = struct.unpack("<4i", attributes["displayWindow"])
    channels, pos, raw = [], 0, attributes["channels"]
    while raw[pos] != 0:
        end = raw.index(b"\0", pos)
        (pixel_type,) = struct.unpack_from("<i", raw, end + 1)
        channels.append((raw[pos:end].decode(), _EXR_PIXEL_TYPES[pixel_type]))
        pos = end + 17
    types = sorted({t for _, t in channels})
    compression = EXR_COMPRESSIONS[attributes["compression"][0]]
    layout = ",".join(name for name, _ in channels) + " " + "/".join(types)
    return ImageHeader(x1 - x0 + 1, y1 - y0 + 1, layout, compression=compression)


def _dpx(data: bytes) -> ImageHeader:
    big = data[:4] == b"SDPX"
    order = ">" if big else "<"
    width, height = struct.unpack_from(order + "II", data, 772)
    descriptor, transfer, colorimetric, bits = data[800:804]
    layout = f"descriptor {descriptor}, {bits}-bit"
    return ImageHeader(width, height, layout, None, transfer, colorimetric, big)


def _png(data: bytes) -> ImageHeader:
    width, height, depth, colour = struct.unpack_from(">IIBB", data, 16)
    return ImageHeader(width, height, f"colour type {colour}, {depth}-bit")


# TIFF tags: ImageWidth, ImageLength, BitsPerSample, Compression, SamplesPerPixel, SampleFormat.
_TIFF_TAGS = {
    256: "width",
    257: "height",
    258: "bits",
    259: "compression",
    277: "samples",
    339: "format",
}
_TIFF_COMPRESSIONS = {
    1: "none",
    5: "lzw",
    7: "jpeg",
    8: "deflate",
    32773: "packbits",
    32946: "deflate",
}
_TIFF_SIZES = {1: 1, 3: 2, 4: 4}  # BYTE, SHORT, LONG
_TIFF_FORMATS = {1: "B", 3: "H", 4: "I"}


def _tiff(data: bytes, handle: BinaryIO) -> ImageHeader | None:
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    if ifd + 2 + 12 * 64 > len(data):  # FFmpeg writes the directory after the pixels
        handle.seek(ifd)
        data, ifd = handle.read(2 + 12 * 256 + 4), 0
    (count,) = struct.unpack_from(order + "H", data, ifd)
    found: dict[str, int] = {}
    for i in range(count):
        tag, kind, number = struct.unpack_from(order + "HHI", data, ifd + 2 + 12 * i)
        if tag in _TIFF_TAGS and kind in _TIFF_SIZES:
            # Only the first value is read (one sample's bits says enough); values that do
            # not fit in the entry's 4 bytes are elsewhere, at the offset those bytes hold.
            at = ifd + 10 + 12 * i
            values = data
            if _TIFF_SIZES[kind] * number > 4:
                (offset,) = struct.unpack_from(order + "I", data, at)
                handle.seek(offset)
                values, at = handle.read(4), 0
            (found[_TIFF_TAGS[tag]],) = struct.unpack_from(order + _TIFF_FORMATS[kind], values, at)
    if "width" not in found or "height" not in found:
        return None
    kind = "float" if found.get("format") == 3 else "int"
    layout = f"{found.get('samples', 1)} samples, {found.get('bits', 1)}-bit {kind}"
    compression = _TIFF_COMPRESSIONS.get(found.get("compression", 1), "other")
    return ImageHeader(found["width"], found["height"], layout, compression=compression)
