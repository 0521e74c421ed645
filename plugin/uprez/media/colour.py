"""FFmpeg's names for a video's colour tags, as ``ffprobe`` prints them.

PyAV gives the tags as numbers (FFmpeg's ``AVColorPrimaries``, ``AVColorTransferCharacteristic``,
``AVColorSpace`` and ``AVColorRange``); uprez says and records them by FFmpeg's names
("bt709", "smpte2084", "bt2020nc", "tv"), and :func:`code` turns a name back into the number an
encoder's context takes.
"""

from __future__ import annotations

__all__ = ["PRIMARIES", "RANGES", "SPACES", "TRANSFERS", "code", "name"]

#: ``AVColorPrimaries`` (PyAV: ``codec_context.color_primaries``).
PRIMARIES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}

#: ``AVColorTransferCharacteristic`` (PyAV: ``codec_context.color_trc``).
TRANSFERS = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}

#: ``AVColorSpace``, the matrix (PyAV: ``codec_context.colorspace``).
SPACES = {
    0: "gbr",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    11: "smpte2085",
    12: "chroma-derived-nc",
    13: "chroma-derived-c",
    14: "ictcp",
}

#: ``AVColorRange`` (PyAV: ``codec_context.color_range``): "tv" is limited, "pc" full.
RANGES = {1: "tv", 2: "pc"}


def name(table: dict[int, str], value: object) -> str | None:
    """FFmpeg's name for ``value`` in ``table``; None when it is unspecified or unknown."""
    try:
        return table.get(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def code(table: dict[int, str], label: str) -> int:
    """The number FFmpeg gives the name ``label`` in ``table`` (ValueError if none)."""
    for number, known in table.items():
        if known == label:
            return number
    raise ValueError(f"no such colour tag: {label!r}")
