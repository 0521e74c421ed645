"""What a segment must be: under the upload limit once cut (checked before anything is
uploaded), and, once upscaled, a video with its frames at its frame rate."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from uprez.errors import MediaError, UploadTooLarge, VerificationError
from uprez.media.remote import Source
from uprez.providers import ProviderResult
from uprez.step.plan import Segment

log = logging.getLogger(__name__)


def check_sizes(
    cuts: dict[int, Source], todo: Sequence[Segment], max_bytes: int | None, total: int
) -> None:
    """Refuse, before any upload, a cut over the upload limit (the largest one is named).
    A URL source is not uploaded: the service reads it where it is."""
    if max_bytes is None:
        return
    sizes = {s.index: path.stat().st_size for s in todo if isinstance(path := cuts[s.index], Path)}
    over = [i for i, size in sizes.items() if size > max_bytes]
    if over:
        worst = max(over, key=lambda i: sizes[i])
        raise UploadTooLarge(
            f"segment {worst + 1} of {total} is {sizes[worst]} bytes once cut, over the upload "
            f"limit of {max_bytes} bytes",
            size=sizes[worst],
            status=None,
        )


def check_segment(
    up: Path, segment: Segment, total: int, result: ProviderResult, fps: Fraction, strict: bool
) -> None:
    """Verify a downloaded segment before it is kept: a video (else deleted, so a rerun fetches
    it again) with the segment's frames at its frame rate (else an error, or with ``strict``
    off a warning; the merged result is verified again)."""
    from uprez.media.probe import probe  # PyAV

    try:
        info = probe(up)
    except MediaError as exc:
        up.unlink(missing_ok=True)
        raise VerificationError(
            f"segment {segment.index + 1} of {total}: the service returned an unreadable video "
            f"({exc}); it was deleted: rerun to download it again",
            task_id=result.task_id,
        ) from exc
    problems = []
    if info.frames != segment.stop - segment.first:
        problems.append(f"{info.frames} frames, expected {segment.stop - segment.first}")
    if info.fps != fps:
        problems.append(f"frame rate {info.fps}, expected {fps}")
    if not problems:
        return
    message = (
        f"segment {segment.index + 1} of {total} does not match its source ({'; '.join(problems)})"
    )
    if strict:
        raise VerificationError(
            f'{message}; it waits in {up} (verify.on_mismatch = "warn" accepts it)',
            task_id=result.task_id,
        )
    log.warning("%s (task %s)", message, result.task_id)
