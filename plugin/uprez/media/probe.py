"""Read what a video file holds — size, frame rate, exact frame count, audio — without decoding it.

:func:`probe` opens the file with FFmpeg (through PyAV), reads the container headers, counts the
video packets when the container does not record a frame count, and decodes a single frame to
prove the video is really readable. Anything that is not a readable video raises
:class:`~uprez.errors.MediaError` with a message meant for the user.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import av
from av.container import InputContainer
from av.stream import Stream

from uprez.errors import MediaError
from uprez.media.cover_art import is_cover_art
from uprez.net.redact import redact_url

__all__ = ["STILL_IMAGE_CODECS", "Probe", "is_cover_art", "probe", "probe_url", "probed_file"]

log = logging.getLogger(__name__)

#: Codecs that hold still pictures; one frame of these is an image, not a video.
STILL_IMAGE_CODECS = frozenset(
    {
        "png",
        "apng",
        "mjpeg",
        "jpeg2000",
        "jpegls",
        "bmp",
        "tiff",
        "webp",
        "gif",
        "ppm",
        "pgm",
        "pam",
        "qoi",
        "exr",
        "dpx",
        "sgi",
        "targa",
        "xbm",
        "xwd",
        "pcx",
        "sunrast",
        "hdr",
        "jpegxl",
        "pbm",
        "pgmyuv",
        "photocd",
        "pictor",
        "psd",
        "xpm",
        "ljpeg",
        "mjpegb",
    }
)

# Demuxers whose only job is reading single pictures ("image2", "png_pipe", "jpeg_pipe", ...).
_IMAGE_DEMUXERS = frozenset({"image2", "image2pipe"})


@dataclass(frozen=True)
class Probe:
    """What :func:`probe` found in a video file.

    ``width`` and ``height`` are the stored picture size; a phone clip recorded upright keeps a
    landscape stored size and a ``rotation`` of 90 or -90 degrees (counter-clockwise) that players
    apply on display.
    """

    path: str
    duration: float
    """Length in seconds."""
    fps: Fraction
    """Average frame rate, exact (``Fraction(30000, 1001)`` for 29.97)."""
    width: int
    height: int
    frames: int
    """Exact number of video frames."""
    video_codec: str
    audio_streams: int
    audio_codecs: tuple[str, ...]
    subtitle_streams: int
    size_bytes: int
    format_name: str
    """FFmpeg's name for the container, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``."""
    rotation: int = 0
    """Display rotation in degrees, counter-clockwise, from the file's display matrix."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy; the frame rate becomes a ``"num/den"`` string like ``"30/1"``."""
        data = asdict(self)
        data["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        data["audio_codecs"] = list(self.audio_codecs)
        return data


def probe(path: str | os.PathLike[str]) -> Probe:
    """Describe the video file at ``path`` (a URL source: :func:`uprez.media.remote.describe`).

    Raises:
        MediaError: the path is missing, a directory or an empty file; FFmpeg cannot read it; it
            holds no video stream; or it is a still image rather than a video.
    """
    with probed_file(path) as (_, result):
        return result


@contextlib.contextmanager
def probed_file(path: str | os.PathLike[str]) -> Iterator[tuple[InputContainer, Probe]]:
    """:func:`probe` ``path`` and keep it open, for a caller that reads more of its headers
    without paying for opening it twice (its packets have been read: seek before reading them).

    Raises:
        MediaError: as :func:`probe`, and for an error of PyAV's in the caller's block.
    """
    target = os.fspath(path)
    size = _file_size(target)
    try:
        with av.open(target, metadata_errors="replace") as container:
            result = _describe(container, target, size, local=True)
            log.debug("probed %s: %s", target, result)
            yield container, result
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, RuntimeError, UnicodeError) as exc:
        raise MediaError(
            f"{target} could not be read as a video (FFmpeg: {_reason(exc)})", path=target
        ) from exc


# FFmpeg may open nothing but HTTP for a URL: a playlist served there cannot point it at files.
_HTTP_ONLY = {"protocol_whitelist": "http,https,tls,tcp"}


def probe_url(url: str, *, timeout: tuple[float, float]) -> Probe:
    """Describe the video at an http(s) ``url`` from what FFmpeg reads of it: the headers and
    one frame (by ``Range`` requests where the server takes them), or every packet when the
    container does not record its frame count. ``timeout`` is (connect, read) seconds.

    Messages name the URL without its query string (often a signature).

    Raises:
        MediaError: the URL cannot be read, holds no video, or does not tell the video's length.
    """
    shown = redact_url(url)
    try:
        with av.open(
            url, container_options=_HTTP_ONLY, timeout=timeout, metadata_errors="replace"
        ) as container:
            if not _duration(container, _first_video(container)) > 0:
                raise MediaError(
                    f"{shown}: the length of the video cannot be told from its headers, so "
                    "neither its cost nor the service's limit can be checked",
                    path=shown,
                )
            result = _describe(container, shown, max(0, int(container.size or 0)))
    except MediaError:
        raise
    except av.ExitError:
        raise MediaError(
            f"{shown} did not answer in time (provider.connect_timeout, provider.read_timeout)",
            path=shown,
        ) from None
    except (av.FFmpegError, OSError, ValueError, RuntimeError, UnicodeError) as exc:
        # FFmpeg's error names the whole URL: keep only its reason, and no chained cause.
        reason = _reason(exc).replace(url, shown)
        raise MediaError(f"{shown} could not be read as a video ({reason})", path=shown) from None
    log.debug("probed %s: %s", shown, result)
    return result


def _first_video(container: InputContainer) -> av.VideoStream | None:
    videos = [s for s in container.streams.video if not is_cover_art(s)]
    return videos[0] if videos else None


def _file_size(target: str) -> int:
    try:
        if not os.path.exists(target):
            raise MediaError(f"no such file: {target}", path=target)
        if os.path.isdir(target):
            raise MediaError(f"{target} is a directory, not a video file", path=target)
        size = os.path.getsize(target)
    except OSError as exc:
        raise MediaError(f"cannot read {target}: {exc.strerror or exc}", path=target) from exc
    if size == 0:
        raise MediaError(f"{target} is an empty file (0 bytes), not a video", path=target)
    return size


def _reason(exc: BaseException) -> str:
    """FFmpeg's own words for an error, without the errno noise and the repeated file name."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else str(exc)


def _codec_name(stream: Stream) -> str:
    context = stream.codec_context
    name = context.name if context is not None else None
    return name or "unknown"


def _describe(container: InputContainer, target: str, size: int, *, local: bool = False) -> Probe:
    format_name = str(container.format.name)
    videos = [s for s in container.streams.video if not is_cover_art(s)]
    if not videos:
        what = "only cover art" if container.streams.video else "no video stream"
        raise MediaError(f"{target} has {what}: there is no video to upscale", path=target)
    stream = videos[0]
    codec = _codec_name(stream)

    if format_name in _IMAGE_DEMUXERS or format_name.endswith("_pipe"):
        raise MediaError(f"{target} is a still image ({codec}), not a video", path=target)

    frames, rotation = _count_and_check(container, stream, target, local)
    if frames <= 1 and codec in STILL_IMAGE_CODECS:
        raise MediaError(f"{target} is a still image ({codec}), not a video", path=target)

    duration = _duration(container, stream)
    fps = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not fps and duration > 0:
        fps = Fraction(frames / duration).limit_denominator(1001)
    if not fps:
        raise MediaError(f"{target}: the frame rate of the video is unknown", path=target)
    if duration <= 0:
        duration = float(frames / Fraction(fps))

    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    if width <= 0 or height <= 0:
        raise MediaError(f"{target}: the picture size of the video is unknown", path=target)

    audio = container.streams.audio
    return Probe(
        path=target,
        duration=duration,
        fps=Fraction(fps),
        width=width,
        height=height,
        frames=frames,
        video_codec=codec,
        audio_streams=len(audio),
        audio_codecs=tuple(_codec_name(s) for s in audio),
        subtitle_streams=len(container.streams.subtitles),
        size_bytes=size,
        format_name=format_name,
        rotation=rotation,
    )


def _count_and_check(
    container: InputContainer, stream: av.VideoStream, target: str, local: bool
) -> tuple[int, int]:
    """Frame count and display rotation, after decoding one frame to prove the video is readable.

    The count is the container's own when it records one. Otherwise a local file's frames are
    counted by its keyframe index (:func:`uprez.media.keyframes.index_video`: the video's packets
    only, kept for the steps that read them again), and a URL's by demuxing the rest of it;
    either way nothing is decoded beyond that first frame.
    """
    recorded = int(stream.frames or 0)
    packets = container.demux(stream)
    counted = 0
    first = None
    for packet in packets:
        if packet.size:
            counted += 1
        decoded = packet.decode()
        if decoded:
            first = decoded[0]
            break
    if first is None:
        raise MediaError(f"{target}: no video frame could be decoded", path=target)
    rotation = int(first.rotation or 0)
    if recorded:
        return recorded, rotation
    if local:
        from uprez.media.keyframes import index_video  # PyAV's packets, read when needed

        with contextlib.suppress(MediaError):  # timestamps it refuses: count as a URL's
            return index_video(target).frames, rotation
    return counted + sum(1 for packet in packets if packet.size), rotation


def _duration(container: InputContainer, stream: av.VideoStream | None) -> float:
    if container.duration is not None and container.duration > 0:
        return float(container.duration / av.time_base)
    if stream is not None and stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0
