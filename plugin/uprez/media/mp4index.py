"""A video's frame timestamps read from an MP4/MOV file's sample tables, without its packets.

Indexing a file by reading its packets costs a read of every byte (some 0.2 s per GB): that is
what planning a long job spends before any cut. An MP4 already lists every sample's decode time
(``stts``), its presentation offset (``ctts``), its sync samples (``stss``) and its size
(``stsz``) in ``moov``; this
module reads those few kilobytes instead. Only the plain case is taken — one track in ``moov``
(not fragmented), at most one edit without a gap, normal rate — and the caller checks the result
against packets read from the file's start and end; anything else returns None, and the caller
reads the packets as before.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Iterator

#: (pts, is_keyframe, bytes) of each sample in decode order, as PyAV's packets carry them.
DecodeOrder = list[tuple[int, bool, int]]

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}
# Reading more than this of ``moov`` is not worth it: the packets themselves are faster then.
_MOOV_LIMIT = 64 * 1024 * 1024


def sample_table(path: str, track: int) -> DecodeOrder | None:
    """The decode order of the ``track``-th track (0-based, as PyAV numbers streams), or None
    when the file is not a plain MP4/MOV this module reads."""
    try:
        moov = _read_moov(path)
    except (OSError, struct.error, ValueError):
        return None
    if moov is None:
        return None
    traks = [body for kind, body in _boxes(moov) if kind == b"trak"]
    if track >= len(traks) or any(kind == b"mvex" for kind, _ in _boxes(moov)):
        return None  # a fragmented file keeps its samples in moof boxes
    movie = _find(moov, b"mvhd")
    try:
        movie_scale = (
            struct.unpack_from(">I", movie, 20 if movie[0] == 1 else 12)[0] if movie else 0
        )
        return _decode_order(traks[track], movie_scale)
    except (struct.error, ValueError, IndexError, KeyError, ZeroDivisionError):
        return None


def _read_moov(path: str) -> memoryview | None:
    """The body of the file's top-level ``moov`` box."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        offset = 0
        while offset + 8 <= size:
            handle.seek(offset)
            length, kind = struct.unpack(">I4s", handle.read(8))
            header = 8
            if length == 1:
                (length,) = struct.unpack(">Q", handle.read(8))
                header = 16
            elif length == 0:
                length = size - offset
            if length < header:
                return None
            if kind == b"moov":
                if length > _MOOV_LIMIT:
                    return None
                return memoryview(handle.read(length - header))
            offset += length
    return None


def _boxes(data: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """The boxes directly inside ``data``: (type, body)."""
    offset = 0
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if length == 1:
            (length,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif length == 0:
            length = len(data) - offset
        if length < header or offset + length > len(data):
            raise ValueError("a box runs past its parent")
        yield kind, data[offset + header : offset + length]
        offset += length


def _find(data: memoryview, *path: bytes) -> memoryview | None:
    """The body of the first box at ``path`` below ``data``."""
    for kind, body in _boxes(data):
        if kind == path[0]:
            return body if len(path) == 1 else _find(body, *path[1:])
    return None


def _decode_order(trak: memoryview, movie_scale: int) -> DecodeOrder | None:
    handler = _find(trak, b"mdia", b"hdlr")
    stbl = _find(trak, b"mdia", b"minf", b"stbl")
    if handler is None or bytes(handler[8:12]) != b"vide" or stbl is None:
        return None
    tables = dict(_boxes(stbl))
    sizes = _sample_sizes(tables[b"stsz"])
    dts = list(itertools.accumulate(_runs(tables[b"stts"]), initial=0))[: len(sizes)]
    offsets = _runs(tables[b"ctts"], signed=True) if b"ctts" in tables else [0] * len(sizes)
    if not sizes or len(dts) != len(sizes) or len(offsets) != len(sizes):
        return None
    keys = _sync_samples(tables[b"stss"]) if b"stss" in tables else None
    shift = _edit_shift(trak, movie_scale)
    if shift is None:
        return None
    return [
        (d + o - shift, keys is None or i + 1 in keys, s)
        for i, (d, o, s) in enumerate(zip(dts, offsets, sizes, strict=True))
        if s
    ]


def _runs(body: memoryview, *, signed: bool = False) -> list[int]:
    """An ``stts``/``ctts`` table expanded to one value per sample."""
    (count,) = struct.unpack_from(">I", body, 4)
    kind = ">Ii" if signed else ">II"  # FFmpeg reads every ctts offset as signed, version 0 too
    values: list[int] = []
    for i in range(count):
        repeat, value = struct.unpack_from(kind, body, 8 + 8 * i)
        values.extend(itertools.repeat(value, repeat))
    return values


def _sample_sizes(body: memoryview) -> list[int]:
    uniform, count = struct.unpack_from(">II", body, 4)
    if uniform:
        return [uniform] * count
    return list(struct.unpack_from(f">{count}I", body, 12))


def _sync_samples(body: memoryview) -> set[int]:
    (count,) = struct.unpack_from(">I", body, 4)
    return set(struct.unpack_from(f">{count}I", body, 8))


def _edit_shift(trak: memoryview, movie_scale: int) -> int | None:
    """How far the edit list moves media time back, in media time units: the edit's
    ``media_time``, less an empty edit before it (a start delay); 0 without edits. None for what
    this module does not take (more edits, another rate)."""
    elst = _find(trak, b"edts", b"elst")
    if elst is None:
        return 0
    version = elst[0]
    (count,) = struct.unpack_from(">I", elst, 4)
    entry = ">Qqi" if version == 1 else ">Iii"
    step = struct.calcsize(entry)
    edits = [struct.unpack_from(entry, elst, 8 + step * i) for i in range(count)]
    delay = 0
    if len(edits) == 2 and edits[0][1] == -1:  # an empty edit first: the track starts later
        delay = edits[0][0]
        edits = edits[1:]
    if len(edits) != 1:
        return None
    _, media_time, rate = edits[0]
    if media_time < 0 or rate != 1 << 16:
        return None
    if not delay:
        return int(media_time)
    mdhd = _find(trak, b"mdia", b"mdhd")
    if mdhd is None or not movie_scale:
        return None
    media_scale = struct.unpack_from(">I", mdhd, 20 if mdhd[0] == 1 else 12)[0]
    return int(media_time) - round(int(delay) * int(media_scale) / movie_scale)
