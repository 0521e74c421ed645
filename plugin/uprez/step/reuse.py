"""Results made before: a job that already ran is handed back, never paid for again.

A rerun of a finished job returns its output (:func:`made_before`); the same content finished
into another path is copied here (:func:`copy_earlier`), which still works once the service
has forgotten the task.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.atomic import atomic_path
from uprez.errors import InputError
from uprez.journal.jobs import finished_before
from uprez.records import Artifact, JobEvent, UpscaleResult
from uprez.step.checks import where
from uprez.step.segments import remove_work_dir
from uprez.step.sidecar import sidecar_path, write_sidecar

if TYPE_CHECKING:
    from uprez.config import Config

log = logging.getLogger(__name__)


def made_before(artifact: Artifact, target: Path, config: Config, folder: Path) -> Artifact:
    """The result an earlier run of this very job made: its sidecar, or what the journal
    knows when the sidecar is missing (the run stopped just after the move, or sidecars are
    off); what that run left in the work folder goes."""
    job = finished_before(config, where(artifact.path), target.resolve())
    if job is None:
        raise InputError(
            f"{target} exists; set output.overwrite = true (or --overwrite) to replace it",
            path=str(target),
        )
    metadata = _read_sidecar(sidecar_path(target))
    if "task_id" not in metadata:
        plan = json.loads(job["plan"])
        tasks = job.get("task_ids") or []
        metadata = {
            "task_id": next((t for t in tasks if t), ""),
            "cost": job["cost"] or "0.00",
            "billed_seconds": sum(int(s["billed_seconds"]) for s in plan),
            "segments": [
                {**segment, "task_id": task, "reused": True}
                for segment, task in zip(plan, tasks, strict=False)
            ],
        }
    remove_work_dir(folder)
    log.info("%s was made from %s by an earlier run: nothing to do", target, artifact.path)
    result = UpscaleResult.from_record(target, metadata, sidecar_path(target), reused=True)
    return artifact.upscaled(result, metadata)


def copy_earlier(
    artifact: Artifact,
    earlier: Path,
    target: Path,
    config: Config,
    emit: Callable[[JobEvent], None],
) -> Artifact | None:
    """The same work, done before into another path (the same content under another name):
    its result copied here at no cost, as long as it is still there as its sidecar describes
    it. Its tasks may be gone from the service (kept 7 days), so they are not asked for again.
    None when the earlier result cannot be trusted: the job then runs as usual."""
    recorded = _read_sidecar(sidecar_path(earlier))
    output = recorded.get("output") if isinstance(recorded, dict) else None
    if not (earlier.is_file() and isinstance(output, dict)):
        return None
    if earlier.stat().st_size != output.get("size_bytes"):
        return None  # changed since: not the result the journal speaks of
    with atomic_path(target) as partial:
        shutil.copyfile(earlier, partial)
        record = {**recorded, "output": {**output, "path": str(target)}}
        record["source"] = {**recorded["source"], "path": str(artifact.path)}
        # Paid for by the earlier result, which says so: a copy costs nothing.
        record["paid"] = "0.00"
        record["segments"] = [{**s, "paid": False} for s in recorded.get("segments") or ()]
        if config.output.sidecar:
            write_sidecar(target, record)
    log.info("%s: the same work was done into %s; copied, at no cost", artifact.path, earlier)
    emit(
        JobEvent(
            "completed",
            artifact.path,
            task_id=record.get("task_id"),
            detail={"output": str(target)},
        )
    )
    result = UpscaleResult.from_record(target, record, sidecar_path(target), reused=True)
    return artifact.upscaled(result, record)


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
