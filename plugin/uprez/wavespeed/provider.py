"""The ``wavespeed`` provider: one job through the service adapter, journaled step by step.

The ``local`` provider (``uprez.hooks.local_provider``) runs this very provider against the
stand-in server, so one code path serves both.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez import protocol
from uprez.errors import ServiceError, TaskFailed, TaskGone, TransferError, UprezError
from uprez.media.remote import RemoteVideo, Source
from uprez.providers import UHD, ProviderResult
from uprez.records import JobEvent
from uprez.wavespeed.answers import TaskState
from uprez.wavespeed.client import WaveSpeedClient
from uprez.wavespeed.configured import client_from_config, schedule_from_config
from uprez.wavespeed.eta import TaskTimes, work_of
from uprez.wavespeed.fetch_output import fetch_output
from uprez.wavespeed.money import check_funds
from uprez.wavespeed.polling import Poller, PollSchedule
from uprez.wavespeed.progress import Throttle
from uprez.wavespeed.submitting import submit_once
from uprez.wavespeed.upload_audit import upload_audited

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.journal.tasks import TaskRecord

log = logging.getLogger(__name__)
Emit = Callable[[JobEvent], None]


def _expected(poller: Poller) -> dict[str, Any]:
    """``expected_s``, the service seconds the task should take as the learned rates predict
    (see :mod:`uprez.wavespeed.eta`), when they predict anything: a progress display shows the
    time left from it instead of guessing."""
    estimate = poller.estimate
    return {} if estimate is None else {"expected_s": round(estimate.expected, 3)}


def _reporter(emit: Emit, source: Source, poller: Poller) -> Callable[[TaskState], None]:
    """Each state a task is seen in, as a ``processing`` event (with :func:`_expected`)."""

    def report(state: TaskState) -> None:
        emit(
            JobEvent(
                "processing",
                source,
                task_id=state.id,
                message=state.status,
                detail=_expected(poller),
            )
        )

    return report


class WaveSpeedProvider:
    """Runs one job on the WaveSpeed API: upload, submit once, wait, download; and deletes a
    job's tasks there once asked to (:meth:`forget`).

    With a journal record, every file sent is audited in the ledger before its bytes leave
    (``audit_uploads``; the local provider, whose server lives in this process on loopback,
    turns it off: nothing leaves the machine)."""

    name = "wavespeed"
    #: Whether uploads are written in the ledger's audit.
    audit_uploads = True

    def __init__(
        self,
        client: WaveSpeedClient,
        *,
        model: str,
        inputs: dict[str, Any] | None = None,
        schedule: PollSchedule | None = None,
        deadline: float = 3600.0,
        allow_insecure_http: bool = False,
    ) -> None:
        self.client = client
        self.model = model
        self.inputs = dict(inputs or {})
        self.schedule = schedule or PollSchedule()
        self.deadline = deadline
        self.allow_insecure_http = allow_insecure_http
        # How long this service took for earlier tasks: polls wait for a task's likely end.
        self.times = TaskTimes()
        # Uploads made by this provider (the others were reused from an earlier run's journal).
        self._uploaded: set[str] = set()
        # Uploads made ahead of their run by the file uploaded, taken once by that run, so a
        # segment is not sent twice when no journal record remembers it.
        self._ahead: dict[tuple[str, int, int] | None, str] = {}

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        paced: bool = True,
    ) -> WaveSpeedProvider:
        """Build the provider from ``config``; the client's checks and ``paced`` are
        :func:`uprez.wavespeed.configured.client_from_config`'s."""
        settings = config.provider
        client = client_from_config(config, base_url=base_url, api_key=api_key, paced=paced)
        return cls(
            client,
            model=settings.model,
            inputs=dict(settings.inputs),
            schedule=schedule_from_config(config),
            deadline=config.polling.deadline,
            allow_insecure_http=settings.allow_insecure_http,
        )

    @property
    def identity(self) -> str:
        """Which service this provider talks to (tasks are only found again there)."""
        return f"wavespeed {self.client.base_url}"

    @property
    def box(self) -> tuple[int, int]:
        """RunwayML Upscale V1 delivers 4K UHD."""
        return UHD

    def check_funds(self, cost: Decimal, price_per_second: Decimal | None = None) -> None:
        """Refuse a run the account cannot pay (see :func:`uprez.wavespeed.money.check_funds`)."""
        check_funds(self.client.connection, self.model, self.inputs, cost, price_per_second)

    def run(
        self, source: Source, target: Path, *, emit: Emit, record: TaskRecord | None = None
    ) -> ProviderResult:
        """Upscale ``source`` into ``target``; the file appears there whole or not at all.

        With a journal ``record``, every side effect is written down as it happens, and what an
        earlier run already did (upload, submit) is reused instead of done again. A task whose
        reused upload had gone (code 1402) is uploaded and submitted again, once; a task the
        service no longer knows is only replaced with ``--resubmit``.
        """
        held: list[str] = []
        try:
            return self._run(source, target, emit, record, held)
        finally:
            if record is not None:
                for task_id in held:  # a lapsed lease frees it anyway: the run's error wins
                    with contextlib.suppress(UprezError):
                        record.collected(task_id)

    def _run(
        self,
        source: Source,
        target: Path,
        emit: Emit,
        record: TaskRecord | None,
        held: list[str],
    ) -> ProviderResult:
        """:meth:`run`, noting in ``held`` each task this process collects (no deletion takes
        it from the service until the result is downloaded)."""
        started = time.monotonic()
        deadline = started + self.deadline
        fresh_upload_tried = False
        while True:
            task_id, poller, reused_upload = self._task_for(source, record, deadline, emit)
            uploaded = time.monotonic()
            if record is not None:
                record.collecting(task_id)
                held.append(task_id)
            emit(JobEvent("submitted", source, task_id=task_id, detail=_expected(poller)))
            try:
                done = self._wait(
                    task_id, deadline, poller, record, _reporter(emit, source, poller)
                )
            except TaskFailed as exc:
                if record is not None:
                    record.task_failed(str(exc))
                if (
                    exc.code == protocol.CODE_MEDIA_UNREACHABLE
                    and reused_upload
                    and not fresh_upload_tried
                ):
                    log.info("task %s could not fetch the earlier upload; uploading again", task_id)
                    fresh_upload_tried = True
                    if record is not None:
                        record.forget_upload()
                    continue
                raise
            except TaskGone as exc:
                note = record.deletion_note(self.identity, task_id) if record is not None else None
                if note is not None:
                    exc.add_note(note)
                if record is None or not record.resubmit:
                    raise
                log.info("%s; --resubmit: creating a new task", exc)
                record.forget_task()
                continue
            break
        if record is not None:
            record.completed(list(done.outputs))
        processed = time.monotonic()
        self._learn(poller, processed, done.inference_ms, record)
        emit(JobEvent("downloading", source, task_id=task_id, fraction=0.0))
        try:
            fetch_output(
                self.client,
                done.outputs[0],
                task_id,
                target,
                Throttle(emit, "downloading", source, task_id),
                allow_insecure_http=self.allow_insecure_http,
            )
        except TransferError as exc:
            # The task is done and paid for: say which, so the result can be fetched again.
            exc.task_id = task_id
            exc.add_note(f"task {task_id} completed: rerun to download its result")
            raise
        if record is not None:
            record.downloaded(str(target), target.stat().st_size)
        finished = time.monotonic()
        return ProviderResult(
            task_id=task_id,
            model=self.model,
            output_url=done.outputs[0],
            inference_ms=done.inference_ms,
            timings={
                "upload_s": round(uploaded - started, 3),
                "processing_s": round(processed - uploaded, 3),
                "download_s": round(finished - processed, 3),
            },
            nsfw=done.nsfw,
        )

    def forget(self, task_ids: Sequence[str]) -> None:
        """Delete these tasks on the service, with their inputs and outputs (see
        :func:`uprez.wavespeed.deleting.delete_tasks`); a task already gone counts as
        deleted."""
        if task_ids:
            self.client.delete(task_ids)

    def _wait(
        self,
        task_id: str,
        deadline: float,
        poller: Poller,
        record: TaskRecord | None,
        report: Callable[[TaskState], None],
    ) -> TaskState:
        """Wait for the task; meanwhile it holds one of the account's slots in the ledger
        (its submitter's, or one taken for it here when it was resumed or collected)."""
        account = self.client.account
        holder = record if account.limited else None
        if holder is not None:
            holder.adopt_turn(account)
        try:
            return self.client.wait(task_id, deadline=deadline, poller=poller, on_state=report)
        finally:
            if holder is not None:
                holder.end_turn()

    def _task_for(
        self, source: Source, record: TaskRecord | None, deadline: float, emit: Emit
    ) -> tuple[str, Poller, bool]:
        """The segment's task: the journal's, or a new one (uploading first unless a recent
        upload can be reused). Returns its id, the poller to wait with, and whether the
        upload was reused from an earlier run."""
        task_id = record.row().task_id if record is not None else None
        if task_id is not None:
            log.info("resuming task %s", task_id)
            return task_id, Poller(self.schedule), False
        ahead = self._ahead.pop(_identity(source), None) if record is None else None
        video_url = ahead or self._send(source, record, emit)
        reused = video_url not in self._uploaded
        task_id, fresh = submit_once(
            self.client, self.model, {**self.inputs, "video": video_url}, record, deadline
        )
        submitted = time.monotonic()
        poller = self._poller_for(source, record, submitted) if fresh else Poller(self.schedule)
        return task_id, poller, reused

    def upload(self, source: Source, *, record: TaskRecord | None, emit: Emit) -> str:
        """Upload ``source`` ahead of its run (see :meth:`_send`); return the URL the service
        reads it from. Without a journal ``record`` to remember it, the next run of the same
        unchanged file takes this upload, once: a later job uploads afresh, since an upload
        may be deleted with its task."""
        video_url = self._send(source, record, emit)
        if record is None and (sent := _identity(source)) is not None:
            self._ahead[sent] = video_url
        return video_url

    def _send(self, source: Source, record: TaskRecord | None, emit: Emit) -> str:
        """Upload ``source`` unless ``record`` holds an upload recent enough to reuse; return
        the URL the service reads it from (recorded in the journal).

        A URL source is not uploaded: its own URL is returned, and recorded like an upload.
        So a rerun sends the URL an earlier run sent, and finds by it a task whose submit
        answer was lost, though the caller's presigned URL has been signed anew since; if that
        URL has expired, the task fails with 1402 (refunded) and :meth:`run` sends the new one.
        """
        video_url = record.reusable_upload() if record is not None else None
        if video_url is not None:
            return video_url
        if isinstance(source, RemoteVideo):
            video_url = source.url
        else:
            emit(JobEvent("uploading", source, fraction=0.0))
            audited = record if self.audit_uploads else None
            progress = Throttle(emit, "uploading", source)
            # Frames are never uploaded as they are: their proxy (a file) is.
            assert isinstance(source, Path), "an image sequence goes as its proxy"
            try:
                video_url = upload_audited(self.client, source, audited, self.identity, progress)
            except ServiceError as exc:
                exc.add_note("nothing was submitted: rerun the same command")
                raise
        if record is not None:
            record.uploaded(video_url)
        self._uploaded.add(video_url)
        return video_url

    def _poller_for(self, source: Source, record: TaskRecord | None, submitted: float) -> Poller:
        """A poller for a task submitted at ``submitted`` (a :func:`time.monotonic` time),
        waiting for its end as history predicts.

        The task runs from its submit, not from when the source has been probed for its length
        (tens of milliseconds for a video, more for a file FFmpeg must search): its first poll
        is counted from the submit, so probing does not push it later.
        """
        store = record.journal if record is not None else None
        work = work_of(source)
        estimate = self.times.estimate(self._service, work, store)
        if estimate is not None:
            log.debug("expecting the task to take %.1f s", estimate.expected)
        return Poller(
            self.schedule,
            estimate,
            start=submitted,
            work=work,
            lookup=lambda: self.times.estimate(self._service, work),
        )

    def _learn(
        self, poller: Poller, noticed: float, inference_ms: int | None, record: TaskRecord | None
    ) -> None:
        """Remember how long a task submitted by this run took (resumed ones say nothing)."""
        if poller.work is None:
            return
        seconds = poller.service_seconds(noticed, inference_ms)
        store = record.journal if record is not None else None
        self.times.learn(self._service, poller.work, seconds, store)

    @property
    def _service(self) -> str:
        return f"{self.identity} {self.model}"

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.session.close()


def _identity(source: Source) -> tuple[str, int, int] | None:
    """A local file as uploaded: its path, size and modification time (None for a URL)."""
    if not isinstance(source, Path):
        return None
    stat = source.stat()
    return str(source.resolve()), stat.st_size, stat.st_mtime_ns
