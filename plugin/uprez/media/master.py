"""What a studio master is: what a conform must keep of it, and what uprez refuses before spending.

:func:`describe_master` reads a video file's headers with PyAV, judges its frame rate from the
video's frame timestamps (an MP4's sample tables, or the packets, demuxed and not decoded, of
:func:`uprez.media.keyframes.index_video`, whose index later steps reuse) and decodes nothing
beyond the one frame :func:`~uprez.media.probe.probe` decodes (:func:`probe_master` gives
both from one opening of the file).
:func:`refusals` lists, one line a reason, what uprez will not spend money on.

Colour tags are FFmpeg's names, as ``ffprobe`` prints them ("bt2020", "smpte2084", "bt2020nc",
"tv"), or None when the file does not say; :meth:`Master.color_codes` gives the numbers an
encoder's context takes.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av
from av.container import InputContainer

from uprez.errors import MediaError
from uprez.media import colour
from uprez.media.keyframes import index_video
from uprez.media.mp4index import sample_table
from uprez.media.probe import Probe, is_cover_art, probed_file

if TYPE_CHECKING:
    from uprez.config.sections import MasterSection

__all__ = ["AudioTrack", "Master", "describe_master", "probe_master", "refusals"]

log = logging.getLogger(__name__)

#: FFmpeg's field orders (``AVFieldOrder``): "tt" is top field first, coded and shown so.
FIELD_ORDERS = ("unknown", "progressive", "tt", "bb", "tb", "bt")
#: Transfers of HDR video: PQ (SMPTE ST 2084) and HLG (ARIB STD-B67).
HDR_TRANSFERS = {"smpte2084": "PQ", "arib-std-b67": "HLG"}
#: Codecs of mezzanine masters: ProRes, and DNxHD with its successor DNxHR.
MEZZANINE_CODECS = frozenset({"prores", "dnxhd"})


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream of a master, as a conform copies it."""

    index: int
    """The stream's index in the container."""
    codec: str
    channels: int
    layout: str
    """FFmpeg's name for the channel layout: "stereo", "5.1(side)", or "2 channels" when the
    file gives no order (MXF)."""
    language: str | None
    """The stream's language tag as written ("eng", "und"), None when there is none."""
    sample_rate: int


@dataclass(frozen=True)
class Master:
    """What :func:`describe_master` found in a file: what a conform keeps, the admission judges."""

    path: str
    format_name: str
    """FFmpeg's name for the container's demuxer, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``, "mxf"."""
    codec: str
    """FFmpeg's name for the video codec: "prores", "dnxhd" (also DNxHR), "h264", "hevc"."""
    profile: str | None
    """The codec profile as FFmpeg names it: "HQ", "4444", "DNXHR HQX", "Main 10", "High"."""
    pix_fmt: str
    """The decoded pixel format, e.g. "yuv422p10le" (ProRes 4444 decodes as 12-bit)."""
    bit_depth: int
    alpha: bool
    width: int
    height: int
    sample_aspect_ratio: Fraction
    """The pixel aspect: ``Fraction(4, 3)`` for anamorphic; 1 when square or not said."""
    color_primaries: str | None
    color_transfer: str | None
    color_matrix: str | None
    color_range: str | None
    field_order: str
    """One of :data:`FIELD_ORDERS`: "progressive", "tt", "bb", "tb", "bt" or "unknown"."""
    timecode: str | None
    """The start timecode ("01:00:00:00"; ";" before the frames when drop-frame)."""
    video_streams: int
    """Video streams other than cover art."""
    vfr: bool
    """Whether frame durations vary by more than one tick of the video's time base."""
    fps: Fraction
    """The frame rate (for a variable frame rate, the average)."""
    audio: tuple[AudioTrack, ...]
    rotation: int
    """Display rotation in degrees, counter-clockwise."""
    chapters: int
    metadata: dict[str, str] = field(default_factory=dict, hash=False)
    """The container's metadata (title, creation time, encoder...)."""

    @property
    def mezzanine(self) -> bool:
        """ProRes or DNxHD/DNxHR: a master kept in its codec family by ``output.codec = auto``."""
        return self.codec in MEZZANINE_CODECS

    @property
    def hdr(self) -> bool:
        """Tagged with an HDR transfer (PQ or HLG)."""
        return self.color_transfer in HDR_TRANSFERS

    @property
    def interlaced(self) -> bool:
        """Coded as two fields a frame."""
        return self.field_order in ("tt", "bb", "tb", "bt")

    @property
    def service_ready(self) -> bool:
        """What the service takes as it is: 8-bit 4:2:0 H.264 at a constant frame rate in MP4 or
        MOV, without alpha. Anything else is sent as a proxy (``master.proxy``)."""
        return (
            self.codec == "h264"
            and self.pix_fmt in ("yuv420p", "yuvj420p")
            and not self.vfr
            and not self.alpha
            and "mp4" in self.format_name.split(",")
        )

    def color_codes(self) -> dict[str, int]:
        """The tags the file has, as PyAV's codec-context attributes take them
        (``color_primaries``, ``color_trc``, ``colorspace``, ``color_range``)."""
        tags = (
            ("color_primaries", colour.PRIMARIES, self.color_primaries),
            ("color_trc", colour.TRANSFERS, self.color_transfer),
            ("colorspace", colour.SPACES, self.color_matrix),
            ("color_range", colour.RANGES, self.color_range),
        )
        return {attr: colour.code(table, name) for attr, table, name in tags if name is not None}

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly record (fractions as ``"num/den"`` strings), for the sidecar."""
        data = asdict(self)
        for name in ("sample_aspect_ratio", "fps"):
            value = data[name]
            data[name] = f"{value.numerator}/{value.denominator}"
        data["audio"] = list(data["audio"])
        return data


def describe_master(path: str | os.PathLike[str]) -> Master:
    """Describe the video file at ``path`` for its conform and its admission.

    Raises:
        MediaError: the file is not a readable video (as :func:`~uprez.media.probe.probe`).
    """
    return probe_master(path)[1]


def probe_master(path: str | os.PathLike[str]) -> tuple[Probe, Master]:
    """:func:`~uprez.media.probe.probe` and :func:`describe_master` of ``path``, from one
    opening of the file.

    Raises:
        MediaError: the file is not a readable video.
    """
    target = os.fspath(path)
    with probed_file(target) as (container, info):
        found = _read(container, target, info)
    log.debug("described %s: %s", target, found)
    return info, found


def _read(container: InputContainer, target: str, info: Probe) -> Master:
    videos = [s for s in container.streams.video if not is_cover_art(s)]
    stream = videos[0]
    context = stream.codec_context
    pix = context.format
    if pix is None:
        raise MediaError(f"{target}: the pixel format of the video is unknown", path=target)
    order = int(context.field_order or 0)
    aspect = stream.sample_aspect_ratio or context.sample_aspect_ratio or 1
    return Master(
        path=target,
        format_name=str(container.format.name),
        codec=info.video_codec,
        profile=context.profile or None,
        pix_fmt=pix.name,
        bit_depth=max(c.bits for c in pix.components),
        alpha=any(c.is_alpha for c in pix.components),
        width=info.width,
        height=info.height,
        sample_aspect_ratio=Fraction(aspect),
        color_primaries=colour.name(colour.PRIMARIES, context.color_primaries),
        color_transfer=colour.name(colour.TRANSFERS, context.color_trc),
        color_matrix=colour.name(colour.SPACES, context.colorspace),
        color_range=colour.name(colour.RANGES, context.color_range),
        field_order=FIELD_ORDERS[order] if 0 <= order < len(FIELD_ORDERS) else "unknown",
        timecode=_timecode(container, stream),
        video_streams=len(videos),
        vfr=_variable(target, stream.index),
        fps=info.fps,
        audio=tuple(_track(s) for s in container.streams.audio),
        rotation=info.rotation,
        chapters=len(container.chapters()),
        metadata=dict(container.metadata),
    )


def _timecode(container: InputContainer, stream: av.VideoStream) -> str | None:
    """The start timecode from the video stream, a data (``tmcd``) stream or the container."""
    data = (s.metadata for s in container.streams.data)
    for metadata in (stream.metadata, *data, container.metadata):
        for key, value in metadata.items():
            if key.lower() == "timecode" and value:
                return str(value)
    return None


def _variable(target: str, track: int) -> bool:
    """Whether the video's frame durations differ by more than one tick: rounding a constant
    rate to the time base (29.97 fps in milliseconds: 33 and 34) is not variable.

    An MP4 or MOV lists its frame times in its sample tables (a millisecond to read); any other
    file has its packets read, into the index later steps reuse."""
    listed = sample_table(target, track)
    pts = sorted(p for p, _, _ in listed) if listed else index_video(target).pts
    steps = {b - a for a, b in itertools.pairwise(pts)}
    return bool(steps) and max(steps) - min(steps) > 1


def _track(stream: av.AudioStream) -> AudioTrack:
    context = stream.codec_context
    language = next((v for k, v in stream.metadata.items() if k.lower() == "language"), None)
    return AudioTrack(
        index=stream.index,
        codec=context.name or "unknown",
        channels=int(context.channels),
        layout=context.layout.name,
        language=str(language) if language else None,
        sample_rate=int(stream.rate or context.sample_rate or 0),
    )


def refusals(master: Master, section: MasterSection) -> list[str]:
    """What uprez will not spend on for ``master``, one line a reason, naming the setting that
    changes it where there is one (``section`` is the config's ``master``); empty: admitted."""
    found = []
    if master.hdr and section.hdr != "send":
        kind = HDR_TRANSFERS[master.color_transfer or ""]
        found.append(
            f"HDR ({kind}, transfer {master.color_transfer}): the service works in 8-bit SDR; "
            'set master.hdr = "send" to send it anyway, tagged as it is'
        )
    if master.interlaced:
        found.append(
            f"interlaced (field order {master.field_order}): the service upscales whole frames "
            "and would smear the two fields together; deinterlace it in the export (uprez "
            "has no setting for this)"
        )
    if master.video_streams > 1:
        found.append(
            f"{master.video_streams} video streams: uprez upscales one picture; export the "
            "one to upscale on its own"
        )
    if master.vfr and section.vfr == "refuse":
        found.append(
            'a variable frame rate, refused by master.vfr = "refuse"; set it to "convert" to '
            "send the frames at a constant rate and give them their own times back"
        )
    if master.alpha and section.alpha == "refuse":
        found.append(
            f'alpha ({master.pix_fmt}), refused by master.alpha = "refuse"; set it to "upscale"'
            " to upscale the alpha here and merge it into a ProRes 4444 result"
        )
    return found
