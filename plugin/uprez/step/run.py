"""The ``upscale`` step: check the export, run a provider, place the result, write its sidecar.

Nothing is spent before every check has passed: a bad file, a video over the service's limit, an
output that already exists (without ``output.overwrite``) are refused before any upload.
The export may be a file or a URL the service reads itself (:mod:`uprez.media.remote`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from uprez import protocol
from uprez.account import concurrency
from uprez.billing import PriceRule
from uprez.errors import (
    ConfigError,
    InputError,
    StorageError,
    UploadTooLarge,
    UprezError,
    VerificationError,
)
from uprez.journal.jobs import JobLog, finished_before, open_job, open_journal
from uprez.media.remote import RemoteVideo, Source
from uprez.records import Artifact, JobEvent, Provider, Uploader
from uprez.step.lock import job_lock
from uprez.step.reuse import copy_earlier, made_before
from uprez.step.segments import SegmentResult, assemble, remove_work_dir, run_segments, work_dir
from uprez.step.sidecar import build_sidecar, write_sidecar
from uprez.step.stale import older_version
from uprez.step.verify import mismatches, target_box
from uprez.wavespeed.redact import redact_url

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.probe import Probe
    from uprez.plugins import PluginManager
    from uprez.step.estimate import Estimate

log = logging.getLogger(__name__)
STEP = "upscale"


def check_source(path: Source, config: Config) -> Probe:
    """Probe ``path`` and refuse, before anything is spent, what the service would refuse.

    Length is no reason to refuse a file: a video over the limit is planned as segments. A URL
    source is refused when it is longer (see :func:`check_remote`).
    """
    from uprez.media.probe import probe

    if isinstance(path, RemoteVideo):
        return check_remote(path, config)
    if not path.exists():
        raise InputError(f"{path}: no such file", path=str(path))
    if not path.is_file():
        raise InputError(f"{path}: not a regular file", path=str(path))
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (check its permissions)", path=str(path))
    if path.suffix.lower() not in protocol.VIDEO_EXTENSIONS:
        known = ", ".join(sorted(protocol.VIDEO_EXTENSIONS))
        raise InputError(f"{path}: the service takes {known} files", path=str(path))
    return probe(path)


def check_remote(video: RemoteVideo, config: Config) -> Probe:
    """Probe a URL source over HTTP and refuse what the service would refuse: a URL that is not
    plain http(s), a video FFmpeg cannot describe from it or whose length it cannot tell, and
    one over ``limits.max_duration`` (it goes whole: cutting it would mean downloading it).
    ``provider.connect_timeout`` bounds opening it (connection and headers), and
    ``provider.read_timeout`` each read after that."""
    video.check()
    info = video.probe(
        timeout=(
            float(config.get("provider.connect_timeout")),
            float(config.get("provider.read_timeout")),
        )
    )
    limit = float(config.get("limits.max_duration"))
    seconds = max(info.duration, float(info.frames / info.fps))
    if seconds > limit:
        raise InputError(
            f"{video}: {seconds:.1f} s of video, over the service's limit of {limit:g} s "
            "(limits.max_duration); a URL source cannot be cut into segments without "
            "downloading it: download it and upscale the file instead",
            path=str(video),
        )
    return info


def price_rule(config: Config) -> PriceRule:
    """The billing rule from the config's ``limits`` section."""
    return PriceRule(
        per_second=Decimal(str(config.get("limits.price_per_second"))),
        minimum_seconds=int(config.get("limits.minimum_seconds")),
    )


def check_batch(sources: Sequence[Source], targets: Sequence[Path]) -> None:
    """Refuse, before anything is spent, a batch where two inputs would make one output (the
    second would replace the first's result, paid for) or an output is another input of the
    batch (``x.mp4 x_4k.mp4 --overwrite`` would destroy the second input)."""
    inputs = {_where(s): s for s in sources}
    made: dict[Path, Source] = {}
    for source, target in zip(sources, targets, strict=True):
        where = target.resolve()
        if where in made:
            raise InputError(
                f"{made[where]} and {source} would both be upscaled into {target}: "
                "give them different names or outputs",
                path=str(target),
            )
        if where in inputs and inputs[where] != source:
            raise InputError(
                f"{target}, the output of {source}, is another input of this run: it would be "
                "replaced; choose another output",
                path=str(target),
            )
        made[where] = source


def choose_output(
    artifact: Artifact, config: Config, pm: PluginManager, output: Path | None
) -> Path:
    """The result's path: ``output`` if given, else the ``uprez_output_path`` hook's answer."""
    target = output or pm.hook.uprez_output_path(artifact=artifact, step=STEP, config=config)
    if target is None:
        raise ConfigError("no plugin chose an output path (is the built-in plugin disabled?)")
    target = Path(target)
    if target.resolve() == _where(artifact.path):
        raise InputError(f"{target}: the output would replace its own source", path=str(target))
    if target.exists() and not config.get("output.overwrite"):
        if finished_before(config, _where(artifact.path), target.resolve()) is not None:
            return target  # this very job made it: a rerun hands it back, at no cost
        if older_version(artifact.path, target, config) is not None:
            return target  # uprez's result of an older version of this source: replaced
        raise InputError(
            f"{target} exists; set output.overwrite = true (or --overwrite) to replace it",
            path=str(target),
        )
    return target


def _replaces(artifact: Artifact, target: Path, config: Config) -> bool:
    """Replace an existing ``target``? With ``output.overwrite``, or when it is uprez's result
    of an older version of this very source (:mod:`uprez.step.stale` says when)."""
    if config.get("output.overwrite"):
        return True
    stale = older_version(artifact.path, target, config)
    if stale is not None:
        log.info("replacing %s: %s", target, stale)
    return stale is not None


def _where(source: Source) -> Source:
    """How the journal knows a source: a file by its absolute path, a URL source as itself."""
    return source.resolve() if isinstance(source, Path) else source


def make_provider(config: Config, pm: PluginManager, name: str | None = None) -> Provider:
    """Build the provider the config (or ``name``) chooses."""
    chosen = name or str(config.get("provider.name"))
    offered = pm.providers()
    if chosen not in offered:
        known = ", ".join(sorted(offered))
        raise ConfigError(f"$.provider.name: no provider named {chosen!r}; available: {known}")
    return offered[chosen].factory(config)


def run_upscale(
    artifact: Artifact,
    *,
    config: Config,
    pm: PluginManager,
    provider: Provider | None = None,
    output: Path | None = None,
    resubmit: bool = False,
    funds_checked: bool = False,
) -> Artifact:
    """Upscale one exported video and return the result as a new :class:`Artifact`.

    Checks, plans and prices the job first (nothing is spent on a refusal); then sends the
    video whole, or as segments run ``limits.concurrency`` at a time and merged back; verifies
    the result; moves it into place whole; writes the sidecar. ``provider`` may be shared
    across calls (the caller closes it); if omitted, the config's provider is built and closed.

    Every side effect is journaled: run again after a crash, the job reuses its uploads,
    waits on its submitted tasks and never submits a segment twice (``resubmit`` allows it
    deliberately where an earlier submit was lost and its task cannot be found). Run again
    after success, it hands back the result it made. Before the first upload the account's
    balance is checked against the estimate (``funds_checked``: the caller did it for a run).
    """
    from uprez.step.estimate import check_budget, check_funds, estimate, replan

    source = artifact.path
    job = estimate(source, config)
    target = choose_output(artifact, config, pm, output)
    overwrite = _replaces(artifact, target, config)
    folder = work_dir(target, source, job.plan, _service_of(config))
    if target.exists() and not overwrite:  # choose_output found it was this very job's
        return made_before(artifact, target, config, folder)
    check_budget([job], config)
    owned = provider is None
    active = provider if provider is not None else make_provider(config, pm)
    try:
        if isinstance(source, RemoteVideo) and not isinstance(active, Uploader):
            raise InputError(
                f"{source}: the {active.name} provider takes files, not URLs; nothing was spent",
                path=str(source),
            )
        if not funds_checked:
            check_funds(active, job.plan.cost, config)
        with job_lock(target, config):
            # Another process may have made this very output while we waited for the lock.
            if not overwrite and target.exists():
                return made_before(artifact, target, config, folder)
            for attempt in range(1, _REPLANS + 2):
                try:
                    return _run_job(
                        artifact,
                        job,
                        target,
                        folder,
                        config=config,
                        pm=pm,
                        provider=active,
                        resubmit=resubmit,
                    )
                except UploadTooLarge as exc:
                    if attempt > _REPLANS:
                        raise
                    job = replan(job, exc, config)
                    folder = work_dir(target, source, job.plan, _service_of(config))
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        if owned:
            active.close()


# Times a job is planned again after a segment turned out too large to upload.
_REPLANS = 4


def _run_job(
    artifact: Artifact,
    job: Estimate,
    target: Path,
    folder: Path,
    *,
    config: Config,
    pm: PluginManager,
    provider: Provider,
    resubmit: bool,
) -> Artifact:
    """Run a checked, priced job while holding its lock."""
    source = artifact.path
    plan = job.plan
    log.info(
        "upscaling %s (%.1f s in %d segment(s), estimated $%s)",
        source,
        job.probe.duration,
        len(plan.segments),
        plan.cost,
    )

    def emit(event: JobEvent) -> None:
        pm.hook.uprez_job_event(event=event)

    active = provider
    model = str(config.get("provider.model"))
    journal = open_journal(config)
    started = time.monotonic()
    try:
        job_log = None
        if journal is not None:
            job_log = open_job(
                journal,
                source=_where(source),
                target=target.resolve(),
                plan=plan,
                provider=active,
                model=model,
                inputs=dict(config.get("provider.inputs") or {}),
            )
        if job_log is not None and job_log.earlier_output is not None:
            copied = copy_earlier(artifact, job_log.earlier_output, target, config, emit)
            if copied is not None:
                return copied
        try:
            parts = run_segments(
                source,
                plan,
                active,
                folder,
                concurrency=concurrency(config),
                emit=emit,
                records=job_log.records(len(plan.segments), resubmit=resubmit) if job_log else None,
                strict=config.get("verify.on_mismatch") == "error",
                max_bytes=job.max_bytes,
            )
            merged = assemble(parts, source, folder, job.probe.fps, job.probe.audio_streams)
        except UprezError as exc:
            if job_log is not None:
                try:
                    job_log.failed(str(exc))
                except StorageError as also:
                    # The first failure is the one to report; what the journal already holds
                    # (task ids) is enough for the rerun.
                    log.info("could not record the failure in the journal: %s", also)
            emit(
                JobEvent("failed", source, task_id=getattr(exc, "task_id", None), message=str(exc))
            )
            raise
        return _hand_off(
            artifact,
            target,
            job,
            parts,
            merged,
            time.monotonic() - started,
            config,
            active.name,
            emit,
            folder,
            job_log,
        )
    finally:
        if journal is not None:
            journal.close()


def _service_of(config: Config) -> str:
    """What makes results differ besides the source: the provider, its service and the model.
    Work folders are keyed by it, so one provider's segments never pass for another's."""
    return "|".join(
        str(config.get(key))
        for key in ("provider.name", "provider.base_url", "provider.model", "provider.inputs")
    )


def _hand_off(
    artifact: Artifact,
    target: Path,
    job: Estimate,
    parts: list[SegmentResult],
    merged: Path,
    elapsed: float,
    config: Config,
    provider_name: str,
    emit: Callable[[JobEvent], None],
    folder: Path,
    job_log: JobLog | None = None,
) -> Artifact:
    from uprez.media.probe import probe

    first = parts[0].result
    try:
        out_info = probe(merged)
    except InputError as exc:
        merged.unlink(missing_ok=True)
        emit(JobEvent("failed", artifact.path, task_id=first.task_id, message=str(exc)))
        raise VerificationError(
            f"the service returned an unreadable video: {exc}", task_id=first.task_id
        ) from exc
    problems = mismatches(job.probe, out_info, target_box(config, provider_name))
    if problems and config.get("verify.on_mismatch") == "error":
        message = (
            f"the result does not match its source ({'; '.join(problems)}); it was not "
            f'handed over and waits in {merged} (verify.on_mismatch = "warn" accepts it)'
        )
        emit(JobEvent("failed", artifact.path, task_id=first.task_id, message=message))
        raise VerificationError(message, task_id=first.task_id)
    for problem in problems:
        log.warning("%s: %s", target, problem)
    rule = job.plan.rule
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
        provider=provider_name,
        model=first.model,
        task_id=first.task_id,
        output_url=redact_url(first.output_url),
        billed_seconds=job.plan.billed_seconds,
        cost=str(job.plan.cost),
        segments=[
            {**p.segment.to_json(rule), "task_id": p.result.task_id, "reused": p.reused}
            for p in parts
        ],
        verification={"ok": not problems, "problems": problems},
        has_nsfw_contents=[flag for p in parts for flag in p.result.nsfw],
        timings={**first.timings, "total_s": round(elapsed, 3), "inference_ms": first.inference_ms},
    )
    # Sidecar, then the journal's "done", then the move: a crash between any two leaves a
    # state the next run completes (the output appears last, and whole).
    if config.get("output.sidecar"):
        write_sidecar(target, record)
    if job_log is not None:
        job_log.done(str(job.plan.cost))
    os.replace(merged, target)
    remove_work_dir(folder)
    emit(
        JobEvent("completed", artifact.path, task_id=first.task_id, detail={"output": str(target)})
    )
    return artifact.upscaled(target, record)
