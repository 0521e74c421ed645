"""Deleting a job's tasks on the service once its result is here (``privacy.delete_after_download``,
or the matching upload policy's own setting), and the deletions an earlier run could not make.

A deletion is made due in the ledger (a pending ``delete`` row of the audit) once the result is
verified, before it is moved into place; it is tried after the move, and stays pending until the
service confirms it. A failure is a warning (in the log and in the sidecar's ``deletion``), and
every later run on the same ledger and provider tries the pending ones again before anything
else: a deletion is never dropped. A task is deleted once, however many nodes collected it, and
never while another node is still downloading it (it stays pending for that node's hand-off, or
the next run, to delete). Only the tasks whose results were handed over are deleted: a failed
task holds no output, and the service refunds it within hours (deleting it could lose that).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uprez.errors import ConfigError, UprezError
from uprez.providers import Forgetting
from uprez.step.policy import decide, subjects

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.journal.store import Journal
    from uprez.media.remote import Source
    from uprez.providers import Provider
    from uprez.step.prepare import Job

log = logging.getLogger(__name__)


def wanted(config: Config, project: str, source: Source) -> bool:
    """Whether the tasks of ``source`` (of ``project``) are deleted once downloaded: the
    setting of the upload policy that decides for it (the first whose project and path match),
    else ``privacy.delete_after_download``. Where the file's link and its real path fall under
    different policies, either one asking for deletion is enough."""
    privacy = config.privacy
    settings = [
        decision.policy.delete_after_download if decision.policy is not None else None
        for decision in (decide(privacy.policies, project, [path]) for path in subjects(source))
    ]
    chosen = [privacy.delete_after_download if s is None else s for s in settings]
    return any(chosen) if chosen else privacy.delete_after_download


def check(jobs: Sequence[Job], config: Config, provider: Provider, journal: Journal | None) -> None:
    """Before anything is spent: a deletion that fails is kept in the ledger to be retried, so
    with the journal off it cannot be promised (:class:`ConfigError`); a provider that cannot
    delete is said once."""
    asking = [job for job in jobs if wanted(config, job.project, job.artifact.path)]
    if not asking:
        return
    if not isinstance(provider, Forgetting):
        log.info(
            "privacy.delete_after_download: the %s provider keeps nothing uprez can delete; "
            "its tasks are left as they are",
            provider.name,
        )
    elif journal is None:
        raise ConfigError(
            "$.privacy.delete_after_download: a deletion that fails is kept in the journal to "
            "be retried, and the journal is off (journal.enabled = false); turn it on, or turn "
            "deletion off; nothing was spent"
        )


@dataclass
class Deletion:
    """What became of deleting one result's tasks, as its sidecar's ``deletion`` says it:
    ``error`` when the service could not be told, ``waiting`` when another node is still
    downloading a task (it deletes it after)."""

    deleted: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    error: str | None = None
    waiting: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "pending": self.pending,
            "reason": self.error or self.waiting,
        }


def make_due(
    journal: Journal,
    provider: Provider,
    task_ids: Sequence[str],
    key: str,
    payer: tuple[str, str],
) -> Deletion:
    """Write down in the ledger that ``task_ids`` are to be deleted (before the result is moved
    into place: if this process dies, the next run deletes them). Those another node deleted
    already are counted as deleted: deleting once is enough."""
    project, user = payer
    due = journal.queue_deletions(
        provider.identity, task_ids, job_key=key, project=project, user=user
    )
    gone = [task_id for task_id in dict.fromkeys(task_ids) if task_id not in due]
    return Deletion(deleted=gone, pending=due)


def delete_due(journal: Journal | None, provider: Provider, task_ids: Sequence[str]) -> Deletion:
    """Delete ``task_ids`` on the service now, but those another node is still collecting;
    the ledger says which are done and keeps the others pending, with the reason."""
    if not isinstance(provider, Forgetting):  # it keeps nothing to delete
        return Deletion()
    service = provider.identity
    busy = journal.collected_elsewhere(task_ids) if journal is not None else {}
    ready = [task_id for task_id in task_ids if task_id not in busy]
    outcome = Deletion(pending=[task_id for task_id in task_ids if task_id in busy])
    if busy and journal is not None:
        holders = sorted({owner.partition(":")[0] for owner in busy.values()})
        outcome.waiting = f"still being downloaded by {', '.join(holders)}, which deletes it after"
        journal.deletions_waiting(service, list(busy), outcome.waiting)
    if not ready:
        return outcome
    try:
        provider.forget(ready)
    except UprezError as exc:
        outcome.pending = list(task_ids)
        outcome.error = str(exc)
        if journal is not None:
            journal.deletions_failed(service, ready, str(exc))
        return outcome
    outcome.deleted = ready
    if journal is not None:
        journal.deletions_done(service, ready)
    return outcome


def delete_handed_over(journal: Journal | None, provider: Provider, due: Deletion) -> Deletion:
    """Delete what :func:`make_due` made due, the result being in place now; warn of what
    stays pending. Never raises for the ledger: the result is handed over already, and a
    deletion the ledger could not record is tried again (a task gone counts as deleted)."""
    try:
        done = delete_due(journal, provider, due.pending)
    except UprezError as exc:
        done = Deletion(pending=due.pending, error=f"the ledger could not record it ({exc})")
    done.deleted = due.deleted + done.deleted
    report(done)
    return done


def retry_pending(journal: Journal, provider: Provider) -> None:
    """Try again the deletions earlier runs on this ledger left pending on this provider's
    service; what fails again stays pending, with a warning."""
    if not isinstance(provider, Forgetting):
        return
    pending = journal.pending_deletions(provider.identity)
    if not pending:
        return
    outcome = delete_due(journal, provider, pending)
    if outcome.deleted:
        log.info(
            "deleted %d task(s) an earlier run left pending: %s",
            len(outcome.deleted),
            ", ".join(outcome.deleted),
        )
    report(outcome)


def report(outcome: Deletion) -> None:
    """Warn of the deletions that stay pending (an unreachable service), or say which wait for
    another node."""
    if outcome.error is not None:
        log.warning(
            "could not delete task(s) %s on the service (%s); they stay pending in the ledger "
            "and the next run tries again (uprez audit lists them)",
            ", ".join(outcome.pending),
            outcome.error,
        )
    elif outcome.pending:
        log.info("task(s) %s: %s", ", ".join(outcome.pending), outcome.waiting)
