"""Running a plan: each segment cut, upscaled and downloaded, several at once; then merged.

Finished segments are kept in a work folder beside the output (``.uprez-work/``) until the job
succeeds, so a rerun after a failure redoes only what did not finish.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from uprez.errors import MediaError, UprezError, VerificationError
from uprez.media.keyframes import VideoIndex
from uprez.plan import Plan, Segment
from uprez.records import JobEvent, Provider, ProviderResult
from uprez.task_record import TaskRecord

log = logging.getLogger(__name__)
WORK_FOLDER = ".uprez-work"


@dataclass(frozen=True)
class SegmentResult:
    """An upscaled segment on disk, with the task that made it."""

    segment: Segment
    path: Path
    result: ProviderResult
    reused: bool = False


def work_dir(target: Path, source: Path, plan: Plan, model: str) -> Path:
    """The folder that holds one job's segments, named after what would change its results."""
    stat = source.stat()
    cuts = [(s.first, s.stop) for s in plan.segments]
    key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{model}|{cuts}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return target.parent / WORK_FOLDER / f"{target.stem}-{digest}"


def remove_work_dir(folder: Path) -> None:
    """Remove a finished job's folder, and the work folder too once it is empty."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # other jobs' folders are still there
        folder.parent.rmdir()


def _record_path(up: Path) -> Path:
    return up.with_suffix(".json")


def _load_finished(up: Path) -> ProviderResult | None:
    record = _record_path(up)
    if not (up.exists() and record.exists()):
        return None
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        return ProviderResult(**data)
    except (OSError, ValueError, TypeError):
        return None


def _save_finished(up: Path, result: ProviderResult) -> None:
    record = _record_path(up)
    temp = record.with_name(record.name + f".{os.getpid()}.part")
    temp.write_text(json.dumps(asdict(result)), encoding="utf-8")
    os.replace(temp, record)


def _cut(source: Path, segment: Segment, folder: Path, index: VideoIndex | None) -> Path:
    """The segment as its own file (the source itself when the plan sends it whole)."""
    from uprez.media.segments import cut_segment

    if segment.whole:
        return source
    cut = folder / f"seg-{segment.index:03d}.src.mp4"
    if not cut.exists():
        partial = cut.with_name(cut.name + f".{os.getpid()}.part")
        try:
            cut_segment(
                source, partial, segment.first, segment.stop, copy=segment.copy, index=index
            )
            os.replace(partial, cut)
        finally:
            partial.unlink(missing_ok=True)
    return cut


def run_segments(
    source: Path,
    plan: Plan,
    provider: Provider,
    folder: Path,
    *,
    concurrency: int,
    emit: Callable[[JobEvent], None],
    records: Sequence[TaskRecord] | None = None,
    strict: bool = True,
) -> list[SegmentResult]:
    """Upscale every segment of ``plan``, ``concurrency`` at a time; return them in order.

    A segment that fails does not stop the others (they may already be paid for); once all
    have ended, the first failure is raised, its message naming the segment and the folder
    where the finished ones wait for a rerun.
    """
    from uprez.media.keyframes import index_video

    folder.mkdir(parents=True, exist_ok=True)
    total = len(plan.segments)
    # Third-party providers need not know the journal: only those that take a record get one.
    journaled = records is not None and "record" in inspect.signature(provider.run).parameters
    # One reading of the source's packets serves every cut.
    index = None if plan.segments[0].whole else index_video(source)

    def one(segment: Segment) -> SegmentResult:
        up = folder / f"seg-{segment.index:03d}.up.mp4"
        finished = _load_finished(up)
        if finished is not None:
            log.info(
                "segment %d of %d: reusing task %s", segment.index + 1, total, finished.task_id
            )
            return SegmentResult(segment, up, finished, reused=True)
        cut = _cut(source, segment, folder, index)

        def tagged(event: JobEvent) -> None:
            detail = {**event.detail, "segment": segment.index, "segments": total}
            emit(
                JobEvent(
                    event.kind,
                    source,
                    event.step,
                    event.task_id,
                    event.fraction,
                    event.message,
                    detail,
                )
            )

        if journaled:
            assert records is not None
            result = provider.run(cut, up, emit=tagged, record=records[segment.index])  # type: ignore[call-arg]
        else:
            result = provider.run(cut, up, emit=tagged)
        _check_segment(up, segment, total, result, plan.fps, strict)
        _save_finished(up, result)
        return SegmentResult(segment, up, result)

    with ThreadPoolExecutor(
        max_workers=max(1, concurrency), thread_name_prefix="uprez-segment"
    ) as pool:
        futures = [pool.submit(one, segment) for segment in plan.segments]
        outcomes: list[SegmentResult | UprezError] = []
        for future in futures:
            try:
                outcomes.append(future.result())
            except UprezError as exc:
                outcomes.append(exc)
    failures = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, UprezError)]
    if failures:
        position, first = failures[0]
        done = total - len(failures)
        if not done:  # nothing worth keeping: cuts are remade in seconds
            remove_work_dir(folder)
        segment = plan.segments[position]
        if total > 1:
            first.args = (
                f"segment {position + 1} of {total} ({segment.start:.2f}-{segment.end:.2f} s) "
                f"failed: {first}"
                + (f"; {done} finished segment(s) kept in {folder} for a rerun" if done else ""),
            )
        raise first
    return [o for o in outcomes if isinstance(o, SegmentResult)]


def _check_segment(
    up: Path, segment: Segment, total: int, result: ProviderResult, fps: Fraction, strict: bool
) -> None:
    """Verify a downloaded segment before it is kept: a video (else deleted, so a rerun fetches
    it again) with the segment's frames at its frame rate (else an error, or with ``strict``
    off a warning; the merged result is verified again)."""
    from uprez.media.probe import probe

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


def assemble(
    parts: list[SegmentResult], source: Path, folder: Path, fps: Fraction, source_audio: int
) -> Path:
    """One file from the upscaled parts: joined by stream copy with the source's audio, or the
    single part as it is when it kept all the audio."""
    from uprez.media.probe import probe
    from uprez.media.segments import concat_with_source_audio

    if len(parts) == 1 and probe(parts[0].path).audio_streams >= source_audio:
        return parts[0].path
    merged = folder / "merged.mp4"
    partial = merged.with_name(merged.name + f".{os.getpid()}.part")
    try:
        concat_with_source_audio([p.path for p in parts], source, partial, fps=fps)
        os.replace(partial, merged)
    except MediaError as exc:  # the parts came back unlike each other: the service's doing
        raise VerificationError(
            f"the upscaled segments cannot be joined: {exc}", task_id=parts[0].result.task_id
        ) from exc
    finally:
        partial.unlink(missing_ok=True)
    return merged
