"""Running a plan: each segment cut, upscaled and downloaded, several at once; then merged.

Finished segments are kept in a work folder beside the output (``.uprez-work/``) until the job
succeeds, so a rerun after a failure redoes only what did not finish: what is finished is what
has a finished record there (:mod:`uprez.step.finished`, the one truth of it, journal or not).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from uprez.atomic import atomic_path
from uprez.errors import MediaError, UploadTooLarge, UprezError, VerificationError
from uprez.journal.tasks import TaskRecord
from uprez.media.image_sequence import ImageSequence
from uprez.media.keyframes import VideoIndex
from uprez.media.remote import RemoteVideo, Source
from uprez.providers import Provider, ProviderResult, Uploader
from uprez.records import JobEvent
from uprez.step.finished import load_finished, save_finished
from uprez.step.plan import Plan, Segment
from uprez.step.proxy import Proxy
from uprez.step.segment_checks import check_segment, check_sizes
from uprez.step.stages import Stages
from uprez.step.workers import workers

log = logging.getLogger(__name__)
WORK_FOLDER = ".uprez-work"
MERGED = "merged.mp4"


@dataclass(frozen=True)
class SegmentResult:
    """An upscaled segment on disk, with the task that made it."""

    segment: Segment
    path: Path
    result: ProviderResult
    reused: bool = False


def work_dir(
    target: Path, source: Source, plan: Plan, model: str, proxy: Proxy | None = None
) -> Path:
    """The folder that holds one job's segments, named after what would change its results
    (a proxy's settings too: another proxy is another upload)."""
    if isinstance(source, RemoteVideo | ImageSequence):
        origin = source.content_key()
    else:
        stat = source.stat()
        origin = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cuts = [(s.first, s.stop) for s in plan.segments]
    key = f"{origin}|{model}|{cuts}" + (f"|{proxy.key()}" if proxy else "")
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return target.parent / WORK_FOLDER / f"{target.stem}-{digest}"


def remove_work_dir(folder: Path) -> None:
    """Remove a finished job's folder, and the work folder too once it is empty."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # other jobs' folders are still there
        folder.parent.rmdir()


def _cut(
    source: Source, segment: Segment, folder: Path, index: VideoIndex | None, proxy: Proxy | None
) -> Source:
    """The segment as its own file (the source itself when the plan sends it whole); with a
    ``proxy``, its frames encoded for the service at the proxy's quality and constant rate."""
    from uprez.media.segments import cut_segment  # PyAV

    if segment.whole and proxy is None:
        return source
    assert not isinstance(source, RemoteVideo), "a URL source is always sent whole"
    cut = folder / f"seg-{segment.index:03d}.src.mp4"
    if not cut.exists():
        with atomic_path(cut) as partial:
            if isinstance(source, ImageSequence):
                from uprez.media.sequence_proxy import encode_proxy  # PyAV, OCIO

                assert proxy is not None, "frames always go as a proxy"
                encode_proxy(source, segment.first, segment.stop, partial, proxy)
            elif proxy is None:
                cut_segment(
                    source, partial, segment.first, segment.stop, copy=segment.copy, index=index
                )
            else:
                cut_segment(
                    source,
                    partial,
                    segment.first,
                    segment.stop,
                    copy=False,
                    fps=proxy.fps,
                    crf=proxy.crf,
                    preset=proxy.preset,
                    index=index,
                )
    return cut


def run_segments(
    source: Source,
    plan: Plan,
    provider: Provider,
    folder: Path,
    *,
    concurrency: int,
    emit: Callable[[JobEvent], None],
    records: Sequence[TaskRecord] | None = None,
    strict: bool = True,
    max_bytes: int | None = None,
    proxy: Proxy | None = None,
    join_early: bool = False,
) -> list[SegmentResult]:
    """Upscale every segment of ``plan``, ``concurrency`` at a time; return them in order.

    The segments go through a pipeline (:mod:`uprez.step.stages`): cut in order, each uploaded
    the moment it is cut, each submitted once its upload is on the service, each downloaded
    the moment its task ends. Nothing is submitted before every cut is checked against
    ``max_bytes`` and the first upload is taken, so a segment too large for this side (or the
    first one for the service) raises :class:`UploadTooLarge` with nothing spent, and the job
    is planned again. With a ``proxy``, every segment is the proxy's (see
    :mod:`uprez.step.proxy`). A segment that fails later does not stop the others (they may
    already be paid for); once all have ended, the first failure is raised, its message naming
    the segment and the folder where the finished ones wait for a rerun.

    With ``join_early`` (the job's result is the parts joined as they are), the parts are
    joined as they come down, into the folder's ``merged.mp4`` (see :func:`assemble`).
    """
    from uprez.media.keyframes import index_video  # PyAV

    folder.mkdir(parents=True, exist_ok=True)
    total = len(plan.segments)
    # One reading of the source's packets serves every cut (a URL source is never cut).
    whole = plan.segments[0].whole and proxy is None
    index = None if whole or not isinstance(source, Path) else index_video(source)
    ups = {s.index: folder / f"seg-{s.index:03d}.up.mp4" for s in plan.segments}
    finished = {i: load_finished(up) for i, up in ups.items()}
    todo = [s for s in plan.segments if finished[s.index] is None]

    def tagger(segment: Segment) -> Callable[[JobEvent], None]:
        # What a listener needs to draw the segment and total the job's bill without the plan.
        tags = {
            "segment": segment.index,
            "segments": total,
            "seconds": segment.duration,
            "billed_seconds": plan.rule.billed_seconds(segment.duration),
            "cost": str(plan.rule.cost(segment.duration)),
        }

        def tagged(event: JobEvent) -> None:
            emit(replace(event, source=source, detail={**event.detail, **tags}))

        return tagged

    stages = Stages(todo)
    uploader = provider if isinstance(provider, Uploader) else None

    def one(segment: Segment) -> SegmentResult:
        up = ups[segment.index]
        done = finished[segment.index]
        if done is not None:
            log.info("segment %d of %d: reusing task %s", segment.index + 1, total, done.task_id)
            return SegmentResult(segment, up, done, reused=True)
        cut = stages.source_for(segment)
        record = records[segment.index] if records is not None else None
        result = provider.run(cut, up, emit=tagger(segment), record=record)
        check_segment(up, segment, total, result, plan.fps, strict)
        save_finished(up, result)
        return SegmentResult(segment, up, result)

    merged = folder / MERGED
    merged.unlink(missing_ok=True)  # only a join made by this run is this run's result
    # A worker each for cutting, uploading and joining, and ``concurrency`` segments at once.
    with workers(3) as stage, workers(concurrency) as submit:
        stage(
            stages.cut_all,
            lambda s: _cut(source, s, folder, index, proxy),
            lambda: check_sizes(
                {s.index: stages.cuts[s.index].result() for s in todo}, todo, max_bytes, total
            ),
        )
        stage(stages.upload_all, uploader, records, tagger)
        futures = [submit(one, segment) for segment in plan.segments]
        if join_early and total > 1 and not isinstance(source, RemoteVideo):
            origin = ups[0] if isinstance(source, ImageSequence) else source  # frames: no sound
            stage(_join_early, futures, origin, merged, plan.fps)
        outcomes: list[SegmentResult | UprezError] = []
        for future in futures:
            try:
                outcomes.append(future.result())
            except UprezError as exc:
                outcomes.append(exc)
    for gate in (stages.checked, stages.taken):  # refused for its size: planned again
        if gate.done() and isinstance(refusal := gate.exception(), UploadTooLarge):
            raise refusal
    failures = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, UprezError)]
    if failures:
        position, first = failures[0]
        done_count = total - len(failures)
        kept = [up for up in ups.values() if up.exists()]  # paid for: kept for inspection
        if not done_count and not kept and proxy is None:
            remove_work_dir(folder)  # nothing worth keeping: cuts are remade in seconds
        segment = plan.segments[position]
        if total > 1:
            # Notes, not a rewritten message: the notes added on the way up (what to rerun)
            # stay, once each, and str() of an UprezError ends with all of them.
            first.add_note(
                f"segment {position + 1} of {total} ({segment.start:.2f}-{segment.end:.2f} s) "
                "failed"
            )
            if done_count:
                first.add_note(f"{done_count} finished segment(s) kept in {folder} for a rerun")
        raise first
    return [o for o in outcomes if isinstance(o, SegmentResult)]


def _join_early(
    done: Sequence[Future[SegmentResult]], origin: Source, merged: Path, fps: Fraction
) -> None:
    """Join the parts into ``merged`` as each comes down and passes its checks, so that once
    the last is here only it is left to copy. Any failure (a segment failed, a part unlike the
    first) leaves ``merged`` unmade: :func:`assemble` joins the parts once all are here."""
    from uprez.media.segments import join_as_they_come  # PyAV

    assert isinstance(origin, Path)
    try:
        with atomic_path(merged) as partial:
            join_as_they_come((f.result().path for f in done), origin, partial, fps=fps)
    except Exception as exc:
        log.info("the parts are joined once all are here (%s)", exc)


def assemble(
    parts: list[SegmentResult], source: Source, folder: Path, fps: Fraction, source_audio: int
) -> Path:
    """One file from the upscaled parts: joined by stream copy with the source's audio, or the
    single part as it is when it kept all the audio. The audio of a URL source that the
    service dropped is read from a copy of it, downloaded into ``folder``."""
    from uprez.media.probe import probe  # PyAV
    from uprez.media.segments import concat_with_source_audio  # PyAV

    if len(parts) == 1 and probe(parts[0].path).audio_streams >= source_audio:
        return parts[0].path
    merged = folder / MERGED
    if len(parts) > 1 and merged.exists():  # joined as the parts came down (run_segments)
        return merged
    if isinstance(source, RemoteVideo):
        source = source.fetch(folder / f"source{source.suffix or '.mp4'}")
    elif isinstance(source, ImageSequence):
        source = parts[0].path  # frames have no sound: the parts are joined as they are
    try:
        with atomic_path(merged) as partial:
            concat_with_source_audio([p.path for p in parts], source, partial, fps=fps)
    except MediaError as exc:  # the parts came back unlike each other: the service's doing
        raise VerificationError(
            f"the upscaled segments cannot be joined: {exc}", task_id=parts[0].result.task_id
        ) from exc
    return merged
