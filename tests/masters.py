"""Studio masters made on the fly with PyAV: small, fast, and really what they claim to be.

Each maker writes a real file and returns its path: ProRes (any profile, with or without alpha),
DNxHR in MOV or MXF, 10-bit HEVC, HDR-tagged, interlaced and two-video-stream clips, and a
variable-frame-rate clip with a white flash and a beep every second to check sync after a round
trip (made, and its marks found, by :mod:`sync_marks`; re-exported here). Every picture is a
moving pattern (sliding diagonal stripes, a box and a gradient; see :func:`picture`), so frames
differ and two clips of another ``variant`` can be told apart.

The makers are plain functions (the tests' fixtures and the benchmarks call them alike); every
option is a keyword. The defaults keep a clip to a tenth or a quarter of a second to make: 160x120
(DNxHR's smallest is 256x120, so 256x144 there), 24 frames at 24 fps.

What PyAV reads back is not always what was written, and the tests say so where it matters:
FFmpeg decodes ProRes 4444 at 12 bits (``yuva444p12le``/``yuv444p12le``); Matroska upper-cases
metadata keys (``TIMECODE``); MXF keeps no audio language and no channel order ("2 channels").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

from master_media import Track, add_track, container_format, picture, pictures, write_sound
from sync_marks import BEEP_HZ, BEEP_SECONDS, beep_times, flash_times, make_vfr_sync, sync_times

if TYPE_CHECKING:
    from av.container.core import Chapter  # a TypedDict of PyAV's stubs only

__all__ = [
    "BEEP_HZ",
    "BEEP_SECONDS",
    "MASTER_TIMECODE",
    "STUDIO_AUDIO",
    "Track",
    "beep_times",
    "flash_times",
    "make_dnxhr",
    "make_hdr",
    "make_hevc10",
    "make_interlaced",
    "make_master",
    "make_prores",
    "make_prores_4444",
    "make_two_videos",
    "make_vfr_sync",
    "picture",
    "sync_times",
]

log = logging.getLogger(__name__)

#: The timecode a studio master starts at (the first hour, by convention).
MASTER_TIMECODE = "01:00:00:00"

#: ``prores_ks`` profile numbers by the names ``make_prores`` takes.
PRORES_PROFILES = {"proxy": 0, "lt": 1, "standard": 2, "hq": 3, "4444": 4, "4444xq": 5}

#: The audio of a studio master: a stereo mix in English, then a 5.1 mix in French.
STUDIO_AUDIO = (Track("stereo", "eng"), Track("5.1", "fra"))

#: HDR transfers by the names ``make_hdr`` takes, with the FFmpeg name a probe reports.
HDR_TRANSFERS = {"pq": ColorTrc.SMPTE2084, "hlg": ColorTrc.ARIB_STD_B67}

# Colour tags of a clip: PyAV codec-context attribute -> FFmpeg's value (AVColor* enums).
Colour = dict[str, int]


# -- the general maker -----------------------------------------------------------------------------


def make_master(
    path: str | os.PathLike[str],
    *,
    codec: str,
    pix_fmt: str,
    options: dict[str, str] | None = None,
    seconds: float = 1.0,
    fps: int | Fraction = 24,
    width: int = 160,
    height: int = 120,
    timecode: str | None = None,
    audio: Sequence[Track] = (),
    sample_aspect: Fraction | None = None,
    colour: Colour | None = None,
    field_order: str | None = None,
    alpha: bool = False,
    extra_videos: int = 0,
    chapters: Sequence[str] = (),
    metadata: dict[str, str] | None = None,
    rotation: int = 0,
    variant: int = 0,
) -> Path:
    """Write ``seconds`` of the moving pattern with ``codec`` in ``pix_fmt``; return the path.

    The container follows the extension (``.mov``, ``.mp4``, ``.mkv``, ``.mxf``). ``options`` go
    to the encoder (``{"profile": "3"}``); ``timecode`` (``"01:00:00:00"``) is set on the
    container and on the video stream, from which MOV writes a ``tmcd`` track; ``audio`` adds
    one track per :class:`Track`, in order, each a tone for the clip's length; ``sample_aspect``
    is the pixel aspect (``Fraction(4, 3)``: anamorphic); ``colour`` maps PyAV's codec-context
    colour attributes (``color_primaries``, ``color_trc``, ``colorspace``, ``color_range``) to
    FFmpeg's values; ``field_order`` (``"tt"`` or ``"bb"``) encodes interlaced (libx264 only);
    ``alpha`` draws a moving opaque disc into the alpha plane (``pix_fmt`` must have one);
    ``extra_videos`` adds more video streams of other variants; ``chapters`` are the titles
    of chapters that split the clip evenly; ``metadata`` goes to the container ("title",
    "comment"...); ``rotation`` (degrees, counter-clockwise) is a display matrix, as phones write.
    """
    target = Path(path)
    fmt = container_format(target)
    rate = Fraction(fps)
    count = round(seconds * rate)
    with av.open(str(target), "w", format=fmt) as out:
        out.metadata.update(metadata or {})
        if timecode:
            out.metadata["timecode"] = timecode
        if chapters:
            out.set_chapters(_chapters(chapters, count, rate))
        videos = []
        for extra in range(1 + extra_videos):
            stream = out.add_stream(codec, rate=rate)
            assert isinstance(stream, av.VideoStream)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            stream.options = dict(options or {})
            if timecode and extra == 0:
                stream.metadata["timecode"] = timecode
            if sample_aspect is not None:
                stream.sample_aspect_ratio = sample_aspect
            for name, value in (colour or {}).items():
                setattr(stream.codec_context, name, value)
            if field_order:
                _interlace(stream, field_order)
            if rotation:
                stream.set_display_rotation(rotation)
            videos.append(stream)
        tracks = [(add_track(out, track), track) for track in audio]
        for number, stream in enumerate(videos):
            frames = pictures(width, height, count, pix_fmt, alpha=alpha, variant=variant + number)
            for index, frame in enumerate(frames):
                frame.pts, frame.time_base = index, 1 / rate
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        for stream, track in tracks:
            write_sound(out, stream, track, float(count / rate))
    log.debug("wrote %s: %s %s %dx%d, %d frames", target, codec, pix_fmt, width, height, count)
    return target


def _chapters(titles: Sequence[str], frames: int, rate: Fraction) -> list[Chapter]:
    """Chapters named ``titles`` that split ``frames`` evenly."""
    step = frames // len(titles)
    return [
        {
            "id": number + 1,
            "start": number * step,
            "end": frames if number == len(titles) - 1 else (number + 1) * step,
            "time_base": 1 / rate,
            "metadata": {"title": title},
        }
        for number, title in enumerate(titles)
    ]


def _interlace(stream: av.VideoStream, field_order: str) -> None:
    if field_order not in ("tt", "bb"):
        raise ValueError(f"field order {field_order!r}: use 'tt' (top first) or 'bb'")
    options = dict(stream.options)
    first = "tff" if field_order == "tt" else "bff"
    params = options.get("x264-params", "")
    options["x264-params"] = f"{params}:interlaced=1:{first}=1".lstrip(":")
    stream.options = options
    context = stream.codec_context
    context.flags |= av.codec.context.Flags.interlaced_dct | av.codec.context.Flags.interlaced_me
    context.field_order = 2 if field_order == "tt" else 3  # AV_FIELD_TT, AV_FIELD_BB


# -- the makers ------------------------------------------------------------------------------------


def make_prores(
    path: str | os.PathLike[str],
    *,
    profile: str = "hq",
    alpha: bool = False,
    timecode: str | None = MASTER_TIMECODE,
    audio: Sequence[Track] = STUDIO_AUDIO,
    sample_aspect: Fraction | None = Fraction(4, 3),
    **options: object,
) -> Path:
    """A ProRes master in MOV (``prores_ks``): by default 422 HQ 10-bit (``yuv422p10le``) with
    a timecode track from 01:00:00:00, a stereo "eng" and a 5.1 "fra" PCM 24-bit track, and a
    4:3 pixel aspect.

    ``profile`` is one of proxy, lt, standard, hq (4:2:2, 10-bit), 4444 or 4444xq (4:4:4,
    ``yuv444p10le``, or ``yuva444p10le`` with ``alpha``: a disc that moves). FFmpeg names the
    profiles Proxy, LT, Standard, HQ, 4444 and XQ when it reads them back. Other ``options``
    as :func:`make_master` (seconds, fps, width, height, variant, colour...).
    """
    if profile not in PRORES_PROFILES:
        raise ValueError(f"ProRes profile {profile!r}: use one of {sorted(PRORES_PROFILES)}")
    full = profile.startswith("4444")
    if alpha and not full:
        raise ValueError("only ProRes 4444 and 4444 XQ carry alpha")
    pix_fmt = ("yuva444p10le" if alpha else "yuv444p10le") if full else "yuv422p10le"
    return make_master(
        path,
        codec="prores_ks",
        pix_fmt=pix_fmt,
        options={"profile": str(PRORES_PROFILES[profile])},
        alpha=alpha,
        timecode=timecode,
        audio=audio,
        sample_aspect=sample_aspect,
        **options,  # type: ignore[arg-type]
    )


def make_prores_4444(
    path: str | os.PathLike[str],
    *,
    alpha: bool = True,
    audio: Sequence[Track] = (),
    sample_aspect: Fraction | None = None,
    **options: object,
) -> Path:
    """A ProRes 4444 MOV, with a moving alpha disc (``yuva444p10le``) unless ``alpha`` is
    False (``yuv444p10le``): a VFX element, so by default square pixels and no sound, timecode
    from 01:00:00:00. FFmpeg reads it back as 12-bit. Other ``options`` as :func:`make_prores`."""
    return make_prores(
        path, profile="4444", alpha=alpha, audio=audio, sample_aspect=sample_aspect, **options
    )


def make_dnxhr(
    path: str | os.PathLike[str],
    *,
    profile: str = "dnxhr_hqx",
    width: int = 256,
    height: int = 144,
    timecode: str | None = MASTER_TIMECODE,
    audio: Sequence[Track] | None = None,
    **options: object,
) -> Path:
    """A DNxHR master, in MOV or in MXF OP1a by the extension (``.mov``, ``.mxf``).

    ``profile`` is the ``dnxhd`` encoder's: dnxhr_lb, dnxhr_sq, dnxhr_hq (8-bit 4:2:2),
    dnxhr_hqx (10-bit 4:2:2, the default) or dnxhr_444 (10-bit 4:4:4); FFmpeg reads them back as
    "DNXHR LB" ... "DNXHR 444". DNxHR's smallest picture is 256x120. Audio defaults to the
    studio's stereo and 5.1 tracks in MOV and to one stereo track in MXF, whose muxer takes no
    more than two channels a track (and aborts the process on more, so that is refused here).
    Other ``options`` as :func:`make_master`.
    """
    pix_fmts = {
        "dnxhr_lb": "yuv422p",
        "dnxhr_sq": "yuv422p",
        "dnxhr_hq": "yuv422p",
        "dnxhr_hqx": "yuv422p10le",
        "dnxhr_444": "yuv444p10le",
    }
    if profile not in pix_fmts:
        raise ValueError(f"DNxHR profile {profile!r}: use one of {sorted(pix_fmts)}")
    mxf = Path(path).suffix.lower() == ".mxf"
    if audio is None:
        audio = (Track("stereo"),) if mxf else STUDIO_AUDIO
    if mxf and any(len(av.AudioLayout(t.layout).channels) > 2 for t in audio):
        raise ValueError("FFmpeg's MXF muxer takes at most two channels a track")
    return make_master(
        path,
        codec="dnxhd",
        pix_fmt=pix_fmts[profile],
        options={"profile": profile},
        width=width,
        height=height,
        timecode=timecode,
        audio=audio,
        **options,  # type: ignore[arg-type]
    )


def make_hevc10(
    path: str | os.PathLike[str],
    *,
    audio: Sequence[Track] = (Track("stereo", "eng", "aac"),),
    **options: object,
) -> Path:
    """A 10-bit HEVC clip (libx265, ``yuv420p10le``, profile "Main 10") in MP4, MKV or MOV by
    the extension, with one AAC stereo track. Other ``options`` as :func:`make_master`."""
    return make_master(
        path,
        codec="libx265",
        pix_fmt="yuv420p10le",
        options={"preset": "ultrafast", "x265-params": "log-level=error"},
        audio=audio,
        **options,  # type: ignore[arg-type]
    )


def make_hdr(
    path: str | os.PathLike[str],
    *,
    transfer: str = "pq",
    **options: object,
) -> Path:
    """A 10-bit HEVC clip tagged HDR: BT.2020 primaries and matrix (non-constant luminance),
    limited range, and the ``transfer`` "pq" (SMPTE ST 2084, FFmpeg's "smpte2084") or "hlg"
    (ARIB STD-B67, "arib-std-b67"). Only the tags are HDR: the pictures are the usual pattern.
    Other ``options`` as :func:`make_hevc10`."""
    if transfer not in HDR_TRANSFERS:
        raise ValueError(f"HDR transfer {transfer!r}: use one of {sorted(HDR_TRANSFERS)}")
    colour = {
        "color_primaries": int(ColorPrimaries.BT2020),
        "color_trc": int(HDR_TRANSFERS[transfer]),
        "colorspace": int(Colorspace.BT2020),
        "color_range": int(ColorRange.MPEG),
    }
    return make_hevc10(path, colour=colour, **options)


def make_interlaced(
    path: str | os.PathLike[str],
    *,
    field_order: str = "tt",
    fps: int | Fraction = 25,
    **options: object,
) -> Path:
    """An interlaced H.264 clip (x264 in field mode, ``yuv420p``), top field first by default
    (``field_order`` "bb": bottom first), at 25 fps as a PAL export would be. FFmpeg reads the
    field order back as "tt" or "bb". Other ``options`` as :func:`make_master`."""
    return make_master(
        path,
        codec="libx264",
        pix_fmt="yuv420p",
        options={"preset": "ultrafast"},
        field_order=field_order,
        fps=fps,
        **options,  # type: ignore[arg-type]
    )


def make_two_videos(path: str | os.PathLike[str], **options: object) -> Path:
    """An H.264 clip with two video streams (the second another variant of the pattern), as a
    stereo pair or a picture with its matte would be. Other ``options`` as
    :func:`make_master`."""
    return make_master(
        path,
        codec="libx264",
        pix_fmt="yuv420p",
        options={"preset": "ultrafast"},
        extra_videos=1,
        **options,  # type: ignore[arg-type]
    )
