"""The last stage before hand-off: the service's parts made into the file the pipeline expects.

A delivery-codec source that needs nothing carried gets the parts joined, as they came (the
service's H.264, with the source's sound). A master gets them conformed onto it
(:mod:`uprez.media.conform`): its codec and profile, timecode, audio tracks, aspect, colour,
frame times. What the service could not keep is said, for the sidecar.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.atomic import atomic_path
from uprez.errors import InputError, MediaError, VerificationError
from uprez.media.codecs import OutputCodec, output_codec
from uprez.media.image_sequence import ImageSequence
from uprez.media.remote import RemoteVideo, Source
from uprez.protocol import VIDEO_EXTENSIONS
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
    #: A result delivered as frames: them, in the work folder under their final names.
    frames: ImageSequence | None = None

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
        if self.frames is not None:
            frames = self.frames
            record["frames"] = {
                "pattern": frames.name,
                "first": frames.first,
                "last": frames.last,
                "count": frames.count,
            }
        return record


def chosen_codec(master: Master | None, config: Config) -> OutputCodec:
    """The codec the result of ``master`` is written in (``output.codec``)."""
    if master is None:
        return output_codec(config.output.codec, "h264", None)
    return output_codec(config.output.codec, master.codec, master.profile, master.bit_depth)


def check_target(target: Path, master: Master | None, config: Config) -> None:
    """Refuse, before anything is spent, an output named for another container than the
    codec's: a ProRes or DNxHR result is a QuickTime file and cannot be an ``.mp4``. A name
    without a video extension (``-o out``) is taken as it is."""
    codec = chosen_codec(master, config)
    suffix = target.suffix.lower()
    if codec.format == "mov" and suffix in VIDEO_EXTENSIONS and suffix not in (".mov", ".qt"):
        raise InputError(
            f"{target}: a {codec.name} result is a QuickTime file: name it .mov, or set "
            'output.codec = "h264" for an MP4',
            path=str(target),
        )


def joins_all_parts(source: Source, estimate: Estimate, config: Config) -> bool:
    """Whether :func:`finish` starts from the parts joined as they are (so the join can start
    as they come down): anything but a master conformed by an encoder, which reads the parts
    themselves."""
    if isinstance(source, ImageSequence):
        return True
    codec = _conform_codec(source, estimate, config)
    return codec is None or codec.encoder is None


def _conform_codec(source: Source, estimate: Estimate, config: Config) -> OutputCodec | None:
    """The codec the result is conformed onto its master in; None when the joined parts are
    the result (no master, or nothing of it the joined parts would lose)."""
    master = estimate.master
    if isinstance(source, RemoteVideo) or master is None:
        return None
    codec = chosen_codec(master, config)
    return codec if _needs_conform(master, estimate, codec) else None


def finish(
    parts: list[SegmentResult],
    source: Source,
    folder: Path,
    estimate: Estimate,
    config: Config,
    target: Path,
) -> Finished:
    """The result of ``parts``: joined, and conformed onto a master where it is one, or made
    back into frames for an image sequence that is delivered as one (``target`` a pattern)."""
    from uprez.media.conform import Conform, conform  # PyAV

    if isinstance(source, ImageSequence):
        return _frames(parts, source, folder, estimate, target)
    codec = _conform_codec(source, estimate, config)
    if codec is None:
        merged = assemble(parts, source, folder, estimate.probe.fps, estimate.probe.audio_streams)
        return Finished(merged, "h264")
    master = estimate.master
    assert master is not None and isinstance(source, Path), "only a master file is conformed"
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


def _frames(
    parts: list[SegmentResult],
    source: ImageSequence,
    folder: Path,
    estimate: Estimate,
    target: Path,
) -> Finished:
    """A sequence's result: the joined movie (``sequence.output = "movie"``), or its frames in
    the source's format, numbers and colourspace."""
    from uprez.media.sequence import describe_sequence
    from uprez.media.sequence_result import write_frames  # PyAV
    from uprez.media.sequence_writer import frame_format

    merged = assemble(parts, source, folder, estimate.probe.fps, 0)
    result = result_sequence(target, source)
    if result is None:
        return Finished(merged, "h264")
    described = describe_sequence(source, check_frames=False)  # checked at admission
    form = frame_format(described, alpha=False)  # the service drops alpha
    colour = estimate.proxy.colour if estimate.proxy is not None else None
    staged = replace(result, folder=folder / "frames", fps=estimate.probe.fps)
    try:
        write_frames(merged, staged, form, colour)
    except MediaError as exc:
        raise VerificationError(
            f"the upscaled movie could not be made into frames: {exc}; it waits in {merged}",
            task_id=parts[0].result.task_id,
        ) from exc
    _check_numbering(staged, merged, parts[0].result.task_id)
    lost = [*form.notes]
    if described.alpha:
        lost.append("alpha: the service drops it; the frames have none")
    if colour is not None:
        lost.append(
            f"colour: sent through {colour.view} on {colour.display}, 8-bit; brought back to "
            f"{colour.source} by its inverse"
        )
    return Finished(staged.pattern, form.encoder, lost, conformed=True, frames=staged)


def _check_numbering(staged: ImageSequence, merged: Path, task_id: str) -> None:
    """The frames on disk, found as any reader would find them, are the source's numbers."""
    from uprez.media.sequence import find_sequence

    found = find_sequence(staged.path(staged.first))
    if found.numbers != staged.numbers:
        raise VerificationError(
            f"the frames written are numbered {found.first}-{found.last} ({found.count}), not "
            f"{staged.first}-{staged.last} ({staged.count}); the service's movie waits in {merged}",
            task_id=task_id,
        )


def result_sequence(target: Path, source: ImageSequence) -> ImageSequence | None:
    """The frames ``target`` names (a pattern: its run of ``#`` is the number), numbered as
    ``source``; None when ``target`` names a movie."""
    name = target.name
    run = max(re.findall(r"#+", name), key=len, default="")
    if not run:
        return None
    head, _, tail = name.rpartition(run)
    return ImageSequence(target.parent, head, tail, len(run), source.numbers, source.fps)


def _needs_conform(master: Master, estimate: Estimate, codec: OutputCodec) -> bool:
    """Whether the joined parts alone would lose something of ``master``."""
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
