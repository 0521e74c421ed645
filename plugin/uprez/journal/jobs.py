"""The journal as a job sees it: open the record, hand out segment records, close the record.

Jobs that ran through a provider we cannot come back to (the in-process local server dies with
its process) get keys of their own, so nothing tries to resume them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.journal.keys import file_hash, job_key
from uprez.journal.leases import HOST
from uprez.journal.store import Journal, default_path
from uprez.journal.tasks import Price, TaskRecord
from uprez.media.image_sequence import ImageSequence
from uprez.media.remote import RemoteVideo, Source

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.step.plan import Plan

log = logging.getLogger(__name__)


def open_journal(config: Config) -> Journal | None:
    """The configured ledger (the shared database of ``journal.url``, else the SQLite file),
    or None when ``journal.enabled`` is off."""
    if not config.journal.enabled:
        return None
    where = config.ledger_url() or config.journal.path or default_path()
    return Journal(where, lease_seconds=config.journal.lease_seconds)


@dataclass
class JobLog:
    """One job's record in the journal."""

    journal: Journal
    key: str
    status: str
    # Where a finished job of the same work put its result, when it was another path.
    earlier_output: Path | None = None
    #: The job's source, as the audit names it beside each file sent.
    source: str = ""

    def records(
        self, count: int | None = None, *, resubmit: bool, prices: Sequence[Price] = ()
    ) -> list[TaskRecord]:
        """One record per segment (``count``, or one per price), each charging its task at
        its price when given one."""
        number = count if count is not None else len(prices)
        return [
            TaskRecord(
                self.journal,
                self.key,
                i,
                resubmit=resubmit,
                price=prices[i] if i < len(prices) else None,
                source=self.source,
            )
            for i in range(number)
        ]

    def done(self, cost: str, source: Source | None = None, output: Path | None = None) -> None:
        """The job succeeded; its result is at ``output`` on this machine, made from
        ``source``."""
        self.journal.finish_job(self.key, status="done", cost=cost)
        if source is not None and output is not None:
            self.journal.record_result(self.key, source, output)

    def settle(self, task_ids: Sequence[str], output: Path) -> set[str]:
        """Of ``task_ids``, those whose cost the result at ``output`` reports as paid (see
        :meth:`~uprez.journal.store.Journal.settle`)."""
        return self.journal.settle(task_ids, f"{HOST}:{output}")

    def failed(self, error: str) -> None:
        """The job failed; its segments' records stay for a rerun."""
        self.journal.finish_job(self.key, status="failed", error=error[:500])


def content_hash(source: Source) -> str:
    """What a job's source is, for its key: a file's SHA-256, or a URL source's
    :meth:`~uprez.media.remote.RemoteVideo.content_key` (its address without the query
    string, which a presigned URL signs anew on each request, and its probed size and length)."""
    if isinstance(source, RemoteVideo | ImageSequence):
        return source.content_key()
    return file_hash(source)


def open_job(
    journal: Journal,
    *,
    source: Source,
    target: Path,
    plan: Plan,
    service: str,
    model: str,
    inputs: dict[str, Any],
) -> JobLog:
    """Find or create the record of this job. ``service`` is where its tasks live (the
    provider's ``identity``): a rerun never waits on a task of another place."""
    source_hash = content_hash(source)
    cuts = [(s.first, s.stop) for s in plan.segments]
    key = job_key(source_hash, f"{service}|{model}", inputs, cuts)
    made = journal.result_here(key)
    status = journal.open_job(
        key,
        source=source,
        source_hash=source_hash,
        output=target,
        model=model,
        plan=[s.to_json(plan.rule) for s in plan.segments],
    )
    if status != "new":
        log.info("resuming job %s (%s)", key[:12], status)
    elsewhere = made if status == "done" and made is not None and made != target else None
    return JobLog(journal, key, status, elsewhere, str(source))


def finished_before(config: Config, source: Source, target: Path) -> dict[str, Any] | None:
    """The journal's record of a job that already made ``target`` from this very ``source``
    (same content), or None."""
    if not target.exists():
        return None
    journal = open_journal(config)
    if journal is None:
        return None
    try:
        job = journal.done_job_for(source, target)
        if job is None or job["source_hash"] != content_hash(source):
            return None
        job["task_ids"] = journal.task_ids(job["key"])
        return job
    finally:
        journal.close()
