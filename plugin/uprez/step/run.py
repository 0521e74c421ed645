"""Run a prepared batch: for each job, take its lock, send the video whole or as segments,
verify and hand off the result; then the other steps the rules chose.

Every side effect is journaled: run again after a crash, a job reuses its uploads, waits on its
submitted tasks and never submits a segment twice (``resubmit`` allows it deliberately where an
earlier submit was lost and its task cannot be found). Run again after success, it hands back
the result it made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from uprez.account import segments_at_once
from uprez.errors import ConfigError, InputError, StorageError, UploadTooLarge, UprezError
from uprez.journal.charges import Payer
from uprez.journal.jobs import open_job, open_journal
from uprez.media.remote import RemoteVideo
from uprez.providers import Forgetting, Provider, Uploader
from uprez.records import Artifact, JobEvent
from uprez.step import deletion
from uprez.step.checks import where
from uprez.step.conforming import finish, joins_all_parts
from uprez.step.estimate import Estimate, check_funds, replan
from uprez.step.handoff import hand_off
from uprez.step.lock import job_lock
from uprez.step.output import STEP
from uprez.step.payer import prices, reserve
from uprez.step.policy import check_uploads
from uprez.step.prepare import Batch, Job, prepare
from uprez.step.reuse import copy_earlier, made_before
from uprez.step.segments import run_segments, work_dir

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.journal.store import Journal
    from uprez.plugins import PluginManager

log = logging.getLogger(__name__)

# Times a job is planned again after a segment turned out too large to upload.
_REPLANS = 4


@dataclass(frozen=True)
class Outcome:
    """How one step on one artifact ended: what it produced, or the error that stopped it.
    ``job`` is the prepared upscale job (None for another step the rules chose)."""

    artifact: Artifact
    step: str
    produced: tuple[Artifact, ...] = ()
    error: UprezError | None = None
    job: Job | None = None

    @property
    def result(self) -> Artifact | None:
        """The first thing produced (an upscale produces one result)."""
        return self.produced[0] if self.produced else None


def run(
    batch: Batch,
    *,
    provider: Provider | None = None,
    resubmit: bool = False,
    each: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Carry out ``batch``: every job in turn through one provider, then the other steps.

    Before the first upload, the provider is checked against every job (a URL source needs a
    provider that reads URLs) and the account against the batch's total. A job that fails
    does not stop the next (its error is in its :class:`Outcome`); anything else (an
    interrupt, a refusal before spending) stops the batch. ``each`` hears of each job as it
    ends. ``provider`` may be shared (the caller closes it); if omitted, the config's
    provider is built and closed."""
    config, pm = batch.config, batch.pm
    spending = any(not job.placement.made_before for job in batch.jobs)
    # The ledger is reached before anything is spent: a database that is down stops the
    # batch here (exit 5), and the budgets' reservations are made in it.
    ledger = open_journal(config) if spending else None
    reserved: dict[tuple[str, str], str] = {}
    owned = provider is None
    active = provider if provider is not None else pm.make_provider(config)
    try:
        for job in batch.jobs:
            source = job.artifact.path
            if isinstance(source, RemoteVideo) and not isinstance(active, Uploader):
                raise InputError(
                    f"{source}: the {active.name} provider takes files, not URLs; "
                    "nothing was spent",
                    path=str(source),
                )
        # A host may hand over a provider of its own: the policies judge the one that runs.
        check_uploads([job.artifact for job in batch.jobs], config, active.name)
        if spending:
            deletion.check(batch.jobs, config, active, ledger)
            check_funds(active, batch.total, config)
            reserved = reserve(ledger, batch.by_payer(), config)
        _retry_deletions(ledger, active, config)
        outcomes = []
        for job in batch.jobs:
            try:
                charged = reserved.get((job.project, job.user))
                made = run_job(job, config, pm, active, resubmit, ledger, charged)
                outcome = Outcome(job.artifact, STEP, (made,), job=job)
            except UprezError as exc:
                outcome = Outcome(job.artifact, STEP, error=exc, job=job)
            outcomes.append(outcome)
            if each is not None:
                each(outcome)
    finally:
        if owned:
            active.close()
        if ledger is not None:
            _close(ledger, reserved)
    steps = pm.steps() if batch.others else {}
    for artifact, step in batch.others:
        try:
            other = Outcome(artifact, step, tuple(steps[step].run(artifact, config=config, pm=pm)))
        except UprezError as exc:
            other = Outcome(artifact, step, error=exc)
        outcomes.append(other)
        if each is not None:
            each(other)
    return outcomes


def run_upscale(
    artifact: Artifact,
    *,
    config: Config,
    pm: PluginManager,
    provider: Provider | None = None,
    output: Path | None = None,
    folder: Path | None = None,
    resubmit: bool = False,
) -> Artifact:
    """Upscale one exported video: :func:`prepare` then :func:`run`; raise its error."""
    batch = prepare([artifact], config=config, pm=pm, folder=folder, output=output)
    (outcome,) = run(batch, provider=provider, resubmit=resubmit)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.result is not None
    return outcome.result


def _retry_deletions(ledger: Journal | None, provider: Provider, config: Config) -> None:
    """First of all, the deletions earlier runs on this ledger left pending on this provider's
    service (see :mod:`uprez.step.deletion`). A batch that spends nothing opens the ledger for
    them alone, and goes on if it cannot: nothing of its own depends on it."""
    if not isinstance(provider, Forgetting):
        return
    journal = ledger
    try:
        if journal is None:
            journal = open_journal(config)
        if journal is not None:
            deletion.retry_pending(journal, provider)
    except UprezError as exc:
        if ledger is not None:
            raise
        log.warning("could not retry the pending deletions in the ledger: %s", exc)
    finally:
        if journal is not None and journal is not ledger:
            journal.close()


def _close(ledger: Journal, reserved: dict[tuple[str, str], str]) -> None:
    """Free what the batch's reservations still hold, and close the ledger."""
    try:
        ledger.release(list(reserved.values()))
    except UprezError as exc:  # they lapse with this process's lease anyway
        log.info("could not release the budget reservations: %s", exc)
    finally:
        ledger.close()


def run_job(
    job: Job,
    config: Config,
    pm: PluginManager,
    provider: Provider,
    resubmit: bool,
    ledger: Journal | None = None,
    reservation: str | None = None,
) -> Artifact:
    """Run one prepared job under its lock, planning it again (smaller) while a segment
    turns out too large to upload; nothing is submitted before every segment is up.
    ``ledger`` is the batch's open journal (else the config's is opened for the job), and
    ``reservation`` the budget reservation its charges draw from."""
    target, estimate = job.target, job.estimate
    folder = _folder(job, estimate, config)
    if job.placement.made_before:
        return made_before(job.artifact, target, config, folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    with job_lock(target, config):
        # Another process may have made this very output while we waited for the lock.
        if not job.placement.replace and target.exists():
            return made_before(job.artifact, target, config, folder)
        for attempt in range(1, _REPLANS + 2):
            try:
                return _run_planned(
                    job, estimate, folder, config, pm, provider, resubmit, ledger, reservation
                )
            except UploadTooLarge as exc:
                if attempt > _REPLANS:
                    raise
                estimate = replan(estimate, exc, config)
                folder = _folder(job, estimate, config)
    raise AssertionError("unreachable")  # pragma: no cover


def _folder(job: Job, estimate: Estimate, config: Config) -> Path:
    return work_dir(
        job.target, job.artifact.path, estimate.plan, config.provider.service, estimate.proxy
    )


def _run_planned(
    job: Job,
    estimate: Estimate,
    folder: Path,
    config: Config,
    pm: PluginManager,
    provider: Provider,
    resubmit: bool,
    ledger: Journal | None,
    reservation: str | None,
) -> Artifact:
    """Run a checked, priced job while holding its lock."""
    artifact, target, plan = job.artifact, job.target, estimate.plan
    source = artifact.path
    log.info(
        "upscaling %s (%.1f s in %d segment(s), estimated $%s)",
        source,
        estimate.probe.duration,
        len(plan.segments),
        plan.cost,
    )

    def emit(event: JobEvent) -> None:
        pm.hook.uprez_job_event(event=event)

    journal = ledger if ledger is not None else open_journal(config)
    started = time.monotonic()
    try:
        job_log = None
        if journal is not None:
            job_log = open_job(
                journal,
                source=where(source),
                target=target.resolve(),
                plan=plan,
                service=provider.identity,
                model=config.provider.model,
                inputs=dict(config.provider.inputs),
            )
        if job_log is not None and job_log.earlier_output is not None:
            copied = copy_earlier(artifact, job_log.earlier_output, target, config, emit)
            if copied is not None:
                return copied
        try:
            parts = run_segments(
                source,
                plan,
                provider,
                folder,
                concurrency=segments_at_once(config, len(plan.segments)),
                emit=emit,
                records=(
                    job_log.records(
                        resubmit=resubmit,
                        prices=prices(
                            plan,
                            Payer(
                                provider.identity,
                                config.provider.model,
                                job.project,
                                job.user,
                                reservation,
                            ),
                        ),
                    )
                    if job_log
                    else None
                ),
                strict=config.verify.strict,
                max_bytes=estimate.max_bytes,
                proxy=estimate.proxy,
                join_early=joins_all_parts(source, estimate, config),
            )
            finished = finish(parts, source, folder, estimate, config, target)
        except UprezError as exc:
            if job_log is not None:
                try:
                    job_log.failed(str(exc))
                except (StorageError, ConfigError) as also:
                    # The first failure is the one to report (a full disk or a damaged journal
                    # met while noting it must not replace it); what the journal already holds
                    # (task ids) is enough for the rerun.
                    log.info("could not record the failure in the journal: %s", also)
            emit(
                JobEvent("failed", source, task_id=getattr(exc, "task_id", None), message=str(exc))
            )
            raise
        return hand_off(
            artifact,
            target,
            estimate,
            parts,
            finished,
            elapsed=time.monotonic() - started,
            config=config,
            provider=provider,
            emit=emit,
            folder=folder,
            job_log=job_log,
            payer=(job.project, job.user),
        )
    finally:
        if journal is not None and journal is not ledger:
            journal.close()
