"""Hand a finished job's result over: verify it against its source, write its sidecar, mark
the journal, move it into place whole; then, if asked, delete its tasks on the service."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from uprez.errors import InputError, VerificationError
from uprez.media.image_sequence import ImageSequence
from uprez.net.redact import redact_url
from uprez.providers import Forgetting
from uprez.records import Artifact, JobEvent, UpscaleResult
from uprez.step import deletion
from uprez.step.checks import where
from uprez.step.output import STEP
from uprez.step.segments import SegmentResult, remove_work_dir
from uprez.step.sidecar import build_sidecar, write_sidecar
from uprez.step.verify import mismatches, picture_problems, target_box

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.journal.jobs import JobLog
    from uprez.providers import Provider
    from uprez.step.conforming import Finished
    from uprez.step.estimate import Estimate

log = logging.getLogger(__name__)


def hand_off(
    artifact: Artifact,
    target: Path,
    job: Estimate,
    parts: list[SegmentResult],
    finished: Finished,
    *,
    elapsed: float,
    config: Config,
    provider: Provider,
    emit: Callable[[JobEvent], None],
    folder: Path,
    job_log: JobLog | None = None,
    payer: tuple[str, str] = ("", ""),
) -> Artifact:
    """Verify the ``finished`` result and make it ``target``; return the result's
    :class:`Artifact`.

    A result that does not match its source (its size, frames, sound, or with
    ``verify.content`` its picture) is an error (``verify.on_mismatch = "error"``) and stays in
    the work folder; with ``"warn"`` each mismatch is logged and the result goes.
    With ``privacy.delete_after_download`` (or its upload policy's), the result's tasks are
    deleted on the service once it is in place (:mod:`uprez.step.deletion`).
    """
    from uprez.media.probe import probe  # PyAV loads when a video is first looked at
    from uprez.media.sequence_probe import probe_sequence

    first, merged = parts[0].result, finished.path
    try:
        out_info = probe(merged) if finished.frames is None else probe_sequence(finished.frames)
    except InputError as exc:
        merged.unlink(missing_ok=True)
        emit(JobEvent("failed", artifact.path, task_id=first.task_id, message=str(exc)))
        raise VerificationError(
            f"the service returned an unreadable video: {exc}", task_id=first.task_id
        ) from exc
    vfr = job.master is not None and job.master.vfr
    problems = mismatches(job.probe, out_info, target_box(config, provider), vfr=vfr)
    problems += picture_problems(artifact.path, job.probe, out_info, config)
    if problems and config.verify.strict:
        # Nothing removes the work folder after this: the result stays there to be looked at.
        message = (
            f"the result does not match its source ({'; '.join(problems)}); it was not "
            f"handed over and is kept for inspection at {merged} "
            '(verify.on_mismatch = "warn" accepts it)'
        )
        emit(JobEvent("failed", artifact.path, task_id=first.task_id, message=message))
        raise VerificationError(message, task_id=first.task_id)
    for problem in problems:
        log.warning("%s: %s", target, problem)
    rule = job.plan.rule
    # Each task's cost is reported as paid by exactly one result: the first handed over.
    task_ids = [p.result.task_id for p in parts]
    paid = set(task_ids) if job_log is None else job_log.settle(task_ids, target)
    project, user = payer
    deleting = isinstance(provider, Forgetting) and deletion.wanted(config, project, artifact.path)
    due = deletion.Deletion(pending=list(dict.fromkeys(task_ids)))
    record = build_sidecar(
        step=STEP,
        source={
            "path": str(artifact.path),
            "size_bytes": job.probe.size_bytes,
            "probe": job.probe.to_dict(),
        },
        output={
            "path": str(target),
            "size_bytes": out_info.size_bytes,
            # Probed in the work folder, before the move: the probe names where it will be.
            "probe": {**out_info.to_dict(), "path": str(target)},
        },
        provider=provider.name,
        model=first.model,
        task_id=first.task_id,
        output_url=redact_url(first.output_url),
        billed_seconds=job.plan.billed_seconds,
        cost=str(job.plan.cost),
        paid=str(
            sum(
                (rule.cost(p.segment.duration) for p in parts if p.result.task_id in paid),
                Decimal("0.00"),
            )
        ),
        project=project,
        user=user,
        segments=[
            {
                **p.segment.to_json(rule),
                "task_id": p.result.task_id,
                "reused": p.reused,
                "paid": p.result.task_id in paid,
            }
            for p in parts
        ],
        verification={"ok": not problems, "problems": problems},
        **({"master": finished.to_json(job)} if _has_record(job, finished) else {}),
        has_nsfw_contents=[flag for p in parts for flag in p.result.nsfw],
        timings={**first.timings, "total_s": round(elapsed, 3), "inference_ms": first.inference_ms},
        **({"deletion": due.to_json()} if deleting else {}),
    )
    # Sidecar, then the journal's "done" (and the deletions due), then the move: a crash
    # between any two leaves a state the next run completes (the output appears last, and
    # whole; a deletion due is made by the next run).
    sidecar = write_sidecar(target, record) if config.output.sidecar else None
    if job_log is not None:
        job_log.done(str(job.plan.cost), where(artifact.path), target.resolve())
        if deleting:
            due = deletion.make_due(job_log.journal, provider, task_ids, job_log.key, payer)
    if finished.frames is None:
        os.replace(merged, target)
    else:
        _move_frames(finished.frames, target.parent)
    remove_work_dir(folder)
    if deleting:
        journal = job_log.journal if job_log is not None else None
        record["deletion"] = deletion.delete_handed_over(journal, provider, due).to_json()
        if sidecar is not None:
            sidecar = write_sidecar(target, record)
    emit(
        JobEvent("completed", artifact.path, task_id=first.task_id, detail={"output": str(target)})
    )
    result = UpscaleResult(
        output=target,
        task_id=first.task_id,
        billed_seconds=job.plan.billed_seconds,
        cost=job.plan.cost,
        segments=len(parts),
        sidecar=sidecar,
        reused=all(p.reused for p in parts),
    )
    return artifact.upscaled(result, record)


def _move_frames(frames: ImageSequence, folder: Path) -> None:
    """Move verified frames into ``folder``, each whole (a rename): a crash midway leaves
    whole frames, and the rerun moves the rest."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in frames.numbers:
        os.replace(frames.path(number), folder / frames.frame_name(number))


def _has_record(job: Estimate, finished: Finished) -> bool:
    """A master, a proxy or frames: the result has a story the sidecar tells."""
    return job.master is not None or job.proxy is not None or finished.frames is not None
