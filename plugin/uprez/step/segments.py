"""Running a plan: each segment cut, upscaled and downloaded, several at once; then merged.

Finished segments are kept in a work folder beside the output (``.uprez-work/``) until the job
succeeds, so a rerun after a failure redoes only what did not finish.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from uprez.atomic import atomic_path, write_text_atomic
from uprez.errors import MediaError, UploadTooLarge, UprezError, VerificationError
from uprez.interrupt import run_under
from uprez.journal.tasks import TaskRecord
from uprez.media.keyframes import VideoIndex
from uprez.media.remote import RemoteVideo, Source
from uprez.providers import Provider, ProviderResult, Uploader
from uprez.records import JobEvent
from uprez.step.plan import Plan, Segment

log = logging.getLogger(__name__)
WORK_FOLDER = ".uprez-work"


@dataclass(frozen=True)
class SegmentResult:
    """An upscaled segment on disk, with the task that made it."""

    segment: Segment
    path: Path
    result: ProviderResult
    reused: bool = False


def work_dir(target: Path, source: Source, plan: Plan, model: str) -> Path:
    """The folder that holds one job's segments, named after what would change its results."""
    if isinstance(source, RemoteVideo):
        origin = source.content_key()
    else:
        stat = source.stat()
        origin = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cuts = [(s.first, s.stop) for s in plan.segments]
    key = f"{origin}|{model}|{cuts}"
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
    write_text_atomic(_record_path(up), json.dumps(asdict(result)))


def _cut(source: Source, segment: Segment, folder: Path, index: VideoIndex | None) -> Source:
    """The segment as its own file (the source itself when the plan sends it whole)."""
    from uprez.media.segments import cut_segment

    if segment.whole:
        return source
    assert isinstance(source, Path), "a URL source is always sent whole"
    cut = folder / f"seg-{segment.index:03d}.src.mp4"
    if not cut.exists():
        with atomic_path(cut) as partial:
            cut_segment(
                source, partial, segment.first, segment.stop, copy=segment.copy, index=index
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
) -> list[SegmentResult]:
    """Upscale every segment of ``plan``, ``concurrency`` at a time; return them in order.

    Every segment is cut first and checked against ``max_bytes``; with a journal, every one is
    uploaded before any is submitted. So a segment too large, for this side or for the
    service, raises :class:`UploadTooLarge` before anything was spent, and the job is planned
    again. A segment that fails later does not stop the others (they may already be paid for);
    once all have ended, the first failure is raised, its message naming the segment and the
    folder where the finished ones wait for a rerun.
    """
    from uprez.media.keyframes import index_video

    folder.mkdir(parents=True, exist_ok=True)
    total = len(plan.segments)
    # One reading of the source's packets serves every cut (a URL source is never cut).
    index = None if plan.segments[0].whole or not isinstance(source, Path) else index_video(source)
    ups = {s.index: folder / f"seg-{s.index:03d}.up.mp4" for s in plan.segments}
    finished = {i: _load_finished(up) for i, up in ups.items()}
    todo = [s for s in plan.segments if finished[s.index] is None]

    def tagger(segment: Segment) -> Callable[[JobEvent], None]:
        def tagged(event: JobEvent) -> None:
            detail = {**event.detail, "segment": segment.index, "segments": total}
            emit(replace(event, source=source, detail=detail))

        return tagged

    with _workers(concurrency) as submit:
        cutting = [submit(_cut, source, s, folder, index) for s in todo]
        cuts = {s.index: cut.result() for s, cut in zip(todo, cutting, strict=True)}
        _check_sizes(cuts, todo, max_bytes, total)
        if records is not None and isinstance(provider, Uploader):
            assert records is not None
            uploads = [
                submit(_upload_early, provider, cuts[s.index], records[s.index], tagger(s))
                for s in todo
            ]
            for upload in uploads:
                upload.result()

        def one(segment: Segment) -> SegmentResult:
            up = ups[segment.index]
            done = finished[segment.index]
            if done is not None:
                log.info(
                    "segment %d of %d: reusing task %s", segment.index + 1, total, done.task_id
                )
                return SegmentResult(segment, up, done, reused=True)
            record = records[segment.index] if records is not None else None
            result = provider.run(cuts[segment.index], up, emit=tagger(segment), record=record)
            _check_segment(up, segment, total, result, plan.fps, strict)
            _save_finished(up, result)
            return SegmentResult(segment, up, result)

        futures = [submit(one, segment) for segment in plan.segments]
        outcomes: list[SegmentResult | UprezError] = []
        for future in futures:
            try:
                outcomes.append(future.result())
            except UprezError as exc:
                outcomes.append(exc)
    failures = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, UprezError)]
    if failures:
        position, first = failures[0]
        done_count = total - len(failures)
        if not done_count:  # nothing worth keeping: cuts are remade in seconds
            remove_work_dir(folder)
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


# Seconds an interrupted run gives its workers to notice: one in the middle of a request ends
# it and records what it got (a task id) in the journal, for the rerun.
_GRACE = 1.0


@contextlib.contextmanager
def _workers(count: int) -> Iterator[Callable[..., Future[Any]]]:
    """A pool of ``count`` segment workers, as a ``submit(action, *args)`` function.

    Left normally or by an error, it waits for what it started (a task may be paid for and its
    result on the way). Left by Ctrl-C (``KeyboardInterrupt`` reaches the main thread only),
    it stops at once: the workers' waits and transfers end on the run's stop event
    (:mod:`uprez.interrupt`), what has not started is dropped, and the workers get
    ``_GRACE`` seconds to notice. Submitted tasks stay in the journal for a rerun.
    """
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, count), thread_name_prefix="uprez-segment")
    started: list[Future[Any]] = []

    def submit(action: Callable[..., Any], *args: object) -> Future[Any]:
        future = pool.submit(run_under, stop, action, *args)
        started.append(future)
        return future

    interrupted = False
    try:
        yield submit
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        wait(started, timeout=_GRACE)
        raise
    finally:
        if not interrupted:
            pool.shutdown(wait=True)


def _check_sizes(
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


def _upload_early(
    provider: Uploader, cut: Source, record: TaskRecord, emit: Callable[[JobEvent], None]
) -> None:
    """Upload a segment before any is submitted. A size refusal stops the job (re-planned);
    any other failure is left for the segment's own run to meet again and report."""
    try:
        provider.upload(cut, record=record, emit=emit)
    except UploadTooLarge:
        raise
    except UprezError as exc:
        log.info("early upload of %s failed (%s); its run will try again", cut.name, exc)


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
    parts: list[SegmentResult], source: Source, folder: Path, fps: Fraction, source_audio: int
) -> Path:
    """One file from the upscaled parts: joined by stream copy with the source's audio, or the
    single part as it is when it kept all the audio. The audio of a URL source that the
    service dropped is read from a copy of it, downloaded into ``folder``."""
    from uprez.media.probe import probe
    from uprez.media.segments import concat_with_source_audio

    if len(parts) == 1 and probe(parts[0].path).audio_streams >= source_audio:
        return parts[0].path
    if isinstance(source, RemoteVideo):
        source = source.fetch(folder / f"source{source.suffix or '.mp4'}")
    merged = folder / "merged.mp4"
    try:
        with atomic_path(merged) as partial:
            concat_with_source_audio([p.path for p in parts], source, partial, fps=fps)
    except MediaError as exc:  # the parts came back unlike each other: the service's doing
        raise VerificationError(
            f"the upscaled segments cannot be joined: {exc}", task_id=parts[0].result.task_id
        ) from exc
    return merged
