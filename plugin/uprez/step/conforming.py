"""The last stage before hand-off: the service's parts made into the file the pipeline expects.

A delivery-codec source that needs nothing carried gets the parts joined, as they came (the
service's H.264, with the source's sound). A master gets them conformed onto it
(:mod:`uprez.media.conform`): its codec and profile, timecode, audio tracks, aspect, colour,
frame times. What the service could not keep is said, for the sidecar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.atomic import atomic_path
from uprez.errors import InputError, MediaError, VerificationError
from uprez.media.codecs import OutputCodec, output_codec
from uprez.media.remote import RemoteVideo, Source
from uprez.step.segments import SegmentResult, assemble

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.master import Master
    from uprez.step.estimate import Estimate

__all__ = ["Finished", "check_target", "chosen_codec", "finish"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """The result, in the work folder, ready to be verified and handed over."""

    path: Path
    codec: str
    #: What the result could not keep of its source (for the sidecar), one line each.
    lost: list[str] = field(default_factory=list)
    conformed: bool = False

    def to_json(self, estimate: Estimate) -> dict[str, Any]:
        """The sidecar's ``master`` record."""
        proxy = estimate.proxy.to_json() if estimate.proxy is not None else None
        record: dict[str, Any] = {
            "codec": self.codec,
            "conformed": self.conformed,
            "proxy": proxy,
            "lost": self.lost,
        }
        if estimate.master is not None:
            record["source"] = estimate.master.to_json()
        return record


def chosen_codec(master: Master | None, config: Config) -> OutputCodec:
    """The codec the result of ``master`` is written in (``output.codec``)."""
    if master is None:
        return output_codec(config.output.codec, "h264", None)
    return output_codec(config.output.codec, master.codec, master.profile, master.bit_depth)


def check_target(target: Path, master: Master | None, config: Config) -> None:
    """Refuse, before anything is spent, an output named for another container than the
    codec's (a ProRes result cannot be an .mp4)."""
    codec = chosen_codec(master, config)
    suffix = target.suffix.lower()
    if codec.format == "mov" and suffix not in (".mov", ".qt"):
        raise InputError(
            f"{target}: a {codec.name} result is a QuickTime file: name it .mov, or set "
            'output.codec = "h264" for an MP4',
            path=str(target),
        )
    if codec.format == "mp4" and suffix not in (".mp4", ".m4v", ".mov"):
        raise InputError(
            f"{target}: a {codec.name} result is an MP4 file: name it .mp4", path=str(target)
        )


def finish(
    parts: list[SegmentResult], source: Source, folder: Path, estimate: Estimate, config: Config
) -> Finished:
    """The result of ``parts``: joined, and conformed onto a master where it is one."""
    from uprez.media.conform import Conform, conform  # PyAV

    master = estimate.master
    codec = chosen_codec(master, config)
    needs = _needs_conform(master, estimate, codec)
    if isinstance(source, RemoteVideo) or master is None or not needs:
        merged = assemble(parts, source, folder, estimate.probe.fps, estimate.probe.audio_streams)
        return Finished(merged, "h264")
    pictures = [p.path for p in parts]
    if codec.encoder is None:
        pictures = [assemble(parts, source, folder, estimate.probe.fps, 0)]
    times = _frame_times(source) if master.vfr else None
    alpha = master.alpha and config.master.alpha == "upscale"
    target = folder / f"conformed{codec.ext}"
    try:
        with atomic_path(target) as partial:
            lost = conform(pictures, source, partial, Conform(codec, times, alpha))
    except MediaError as exc:
        raise VerificationError(
            f"the upscaled picture could not be conformed onto {source}: {exc}; the service's "
            f"result waits in {folder}",
            task_id=parts[0].result.task_id,
        ) from exc
    return Finished(target, codec.name, [*service_losses(master), *lost], conformed=True)


def _needs_conform(master: Master | None, estimate: Estimate, codec: OutputCodec) -> bool:
    """Whether the joined parts alone would lose something of ``master``."""
    if master is None:
        return False
    return bool(
        codec.encoder is not None
        or estimate.proxy is not None
        or master.timecode
        or master.sample_aspect_ratio != 1
        or master.vfr
        or master.chapters
    )


def _frame_times(source: Source) -> list[int]:
    """Each frame's own time, in presentation order, in the source's video time base."""
    from uprez.media.keyframes import index_video  # PyAV

    assert isinstance(source, Path)
    return list(index_video(source).pts)


def service_losses(master: Master) -> list[str]:
    """What went through the service's 8-bit 4:2:0 SDR H.264 and did not come back as it was."""
    lost = []
    if master.bit_depth > 8:
        lost.append(
            f"bit depth: the {master.bit_depth}-bit master went through the service in 8 bits "
            "(smooth gradients may band); the result is written back in its own depth"
        )
    if not master.pix_fmt.startswith(("yuv420p", "yuvj420p", "nv12")):
        lost.append(
            f"chroma: the master's {master.pix_fmt} went through the service as 4:2:0; "
            "colour detail finer than that was upscaled from half the resolution"
        )
    if master.alpha:
        lost.append("alpha: the service drops it; it was upscaled here (Lanczos) and merged back")
    if master.vfr:
        lost.append(
            "frame times: sent at a constant rate; each frame's own time was restored afterwards"
        )
    if master.hdr:
        lost.append("HDR: sent as 8-bit with its tags; the service is not HDR-aware")
    return lost
