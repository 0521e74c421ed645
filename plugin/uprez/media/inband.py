"""Whether upscaled parts can share one video track, and how when their encoder settings differ.

Parts of one codec, size and pixel format can be joined by copying their packets. When H.264
parts were encoded with different settings, the joined track is written with the first part's
parameters only, so each keyframe carries its own part's SPS and PPS in-band and every part
decodes as it did alone.
"""

from __future__ import annotations

import logging

from uprez.errors import MediaError
from uprez.media.parts import JoinPart

__all__ = ["check_parts", "parameter_sets"]

# The name segment cutting and joining have always logged under (callers filter by it).
log = logging.getLogger("uprez.media.segments")


def check_parts(indexes: list[JoinPart]) -> bool:
    """Refuse parts that cannot share a video track; say if parameter sets must go in-band."""
    looks = [f"{p.codec} {p.width}x{p.height} {p.pix_fmt}" for p in indexes]
    for part, description in zip(indexes, looks, strict=True):
        if description != looks[0]:
            raise MediaError(
                f"cannot join {part.path}: its video is {description}, not {looks[0]}",
                path=part.path,
            )
    if all(part.extradata == indexes[0].extradata for part in indexes):
        return False
    for part in indexes:  # H.264 in MP4 with a 4-byte NAL length, as x264 and most encoders write
        avcc = part.extradata
        if part.codec != "h264" or len(avcc) < 7 or avcc[0] != 1 or avcc[4] & 3 != 3:
            raise MediaError(
                f"cannot join {part.path}: its encoder settings differ", path=part.path
            )
    log.info("the parts were encoded with different settings: their SPS/PPS go in-band")
    return True


def parameter_sets(avcc: bytes) -> bytes:
    """The SPS and PPS units of an avcC record, each with a 4-byte length prefix."""
    units, pos = [], 5
    for mask in (0x1F, 0xFF):  # the SPS count, then the PPS count
        count, pos = avcc[pos] & mask, pos + 1
        for _ in range(count):
            length = int.from_bytes(avcc[pos : pos + 2], "big")
            units.append(avcc[pos + 2 : pos + 2 + length])
            pos += 2 + length
    return b"".join(len(unit).to_bytes(4, "big") + unit for unit in units)
