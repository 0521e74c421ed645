"""The ``wavespeed`` and ``local`` providers: one job through the service adapter.

The ``local`` provider starts the stand-in server in-process on a free loopback port and then
runs the very same adapter against it, so one code path serves both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from ipaddress import ip_address
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from uprez.errors import AmbiguousSubmit, ConfigError, ServiceError, TaskFailed, TransferError
from uprez.records import JobEvent, ProviderResult
from uprez.service.client import WaveSpeedClient
from uprez.service.eta import TaskTimes, work_of
from uprez.service.polling import Poller, PollSchedule
from uprez.service.redact import redact_url
from uprez.service.retry import RetryPolicy

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.server.runner import LocalServer
    from uprez.task_record import TaskRecord

log = logging.getLogger(__name__)
Emit = Callable[[JobEvent], None]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_output_url(url: str, task_id: str, *, allow_insecure_http: bool = False) -> None:
    """Refuse an output URL that is not HTTPS (loopback aside) unless plain HTTP is allowed."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and allow_insecure_http):
        return
    if parts.scheme == "http" and is_loopback(parts.hostname or ""):
        return
    raise TransferError(
        f"task {task_id}'s output is at {redact_url(url)}, not an HTTPS URL: refused "
        "(set provider.allow_insecure_http = true to accept it)",
        task_id=task_id,
    )


class _Throttle:
    """Turns byte counts into at most ~100 progress events a phase."""

    def __init__(self, emit: Emit, kind: str, source: Path, task_id: str | None = None) -> None:
        self._emit, self._kind, self._source, self._task = emit, kind, source, task_id
        self._last = -1.0

    def __call__(self, done: int, total: int | None) -> None:
        if not total:
            return
        fraction = min(1.0, done / total)
        if fraction - self._last >= 0.01 or fraction >= 1.0 > self._last:
            self._last = fraction
            self._emit(
                JobEvent(
                    self._kind,
                    self._source,
                    task_id=self._task,
                    fraction=fraction,
                    detail={"bytes": done, "total": total},
                )
            )


class WaveSpeedProvider:
    """Runs one job on the WaveSpeed API: upload, submit once, wait, download."""

    name = "wavespeed"

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

    @classmethod
    def from_config(
        cls, config: Config, *, base_url: str | None = None, api_key: str | None = None
    ) -> WaveSpeedProvider:
        """Build the provider from ``config``; refuses a missing key or plain HTTP to a remote."""
        base = base_url or str(config.get("provider.base_url"))
        key = api_key or config.api_key()
        if not key:
            raise ConfigError(
                "no API key: set WAVESPEED_API_KEY in the environment (or provider.api_key in "
                "the config), or run with --provider local to use the local server"
            )
        parts = urlsplit(base)
        if (
            parts.scheme != "https"
            and not is_loopback(parts.hostname or "")
            and not config.get("provider.allow_insecure_http")
        ):
            raise ConfigError(
                f"$.provider.base_url: {base} is not HTTPS; the key would travel in clear. "
                "Use https://, or set provider.allow_insecure_http = true if you mean it"
            )
        client = WaveSpeedClient(
            base,
            key,
            retry=RetryPolicy(
                attempts=int(config.get("retry.attempts")),
                base=float(config.get("retry.backoff_base")),
                cap=float(config.get("retry.backoff_cap")),
                retry_after_cap=float(config.get("retry.retry_after_cap")),
            ),
            connect_timeout=float(config.get("provider.connect_timeout")),
            read_timeout=float(config.get("provider.read_timeout")),
            upload_timeout=float(config.get("provider.upload_timeout")),
        )
        schedule = PollSchedule(
            first=float(config.get("polling.first_interval")),
            factor=float(config.get("polling.factor")),
            max=float(config.get("polling.max_interval")),
            jitter=float(config.get("polling.jitter")),
        )
        return cls(
            client,
            model=str(config.get("provider.model")),
            inputs=dict(config.get("provider.inputs") or {}),
            schedule=schedule,
            deadline=float(config.get("polling.deadline")),
            allow_insecure_http=bool(config.get("provider.allow_insecure_http")),
        )

    @property
    def identity(self) -> str:
        """Which service this provider talks to (tasks are only found again there)."""
        return f"wavespeed {self.client.base_url}"

    def run(
        self, source: Path, target: Path, *, emit: Emit, record: TaskRecord | None = None
    ) -> ProviderResult:
        """Upscale ``source`` into ``target``; the file appears there whole or not at all.

        With a journal ``record``, every side effect is written down as it happens, and what an
        earlier run already did (upload, submit) is reused instead of done again.
        """
        started = time.monotonic()
        deadline = started + self.deadline
        task_id = record.row().task_id if record is not None else None
        poller = Poller(self.schedule)
        if task_id is None:
            video_url = record.reusable_upload() if record is not None else None
            if video_url is None:
                emit(JobEvent("uploading", source, fraction=0.0))
                try:
                    video_url = self.client.upload(
                        source, progress=_Throttle(emit, "uploading", source)
                    )
                except ServiceError as exc:
                    exc.args = (f"{exc.args[0]}; nothing was submitted: rerun the same command",)
                    raise
                if record is not None:
                    record.uploaded(video_url)
            task_id, fresh = self._submit(video_url, record, deadline)
            if fresh:
                poller = self._poller_for(source, record)
        else:
            log.info("resuming task %s", task_id)
        uploaded = time.monotonic()
        emit(JobEvent("submitted", source, task_id=task_id))

        def on_state(state: Any) -> None:
            emit(JobEvent("processing", source, task_id=task_id, message=state.status))

        try:
            done = self.client.wait(task_id, deadline=deadline, on_state=on_state, poller=poller)
        except TaskFailed as exc:
            if record is not None:
                record.task_failed(str(exc))
            raise
        if record is not None:
            record.completed(list(done.outputs))
        processed = time.monotonic()
        self._learn(poller, processed, done.inference_ms, record)
        emit(JobEvent("downloading", source, task_id=task_id, fraction=0.0))
        try:
            self._download(done.outputs[0], task_id, target, emit, source)
        except TransferError as exc:
            # The task is done and paid for: say which, so the result can be fetched again.
            exc.task_id = task_id
            exc.args = (f"{exc.args[0]}; task {task_id} completed: rerun to download its result",)
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
        )

    def _poller_for(self, source: Path, record: TaskRecord | None) -> Poller:
        """A poller for a task submitted just now, waiting for its end as history predicts."""
        store = record.journal if record is not None else None
        work = work_of(source)
        estimate = self.times.estimate(self._service, work, store)
        if estimate is not None:
            log.debug("expecting the task to take %.1f s", estimate.expected)
        return Poller(
            self.schedule,
            estimate,
            start=time.monotonic(),
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

    def _submit(
        self, video_url: str, record: TaskRecord | None, deadline: float
    ) -> tuple[str, bool]:
        """Create the task once: never twice for one segment, whatever happened before.

        Returns the task's id, and whether it was created just now."""
        inputs = {**self.inputs, "video": video_url}
        if record is None:
            return self.client.submit(self.model, inputs).id, True
        verdict, row = record.claim()
        if verdict == "known" and row.task_id:
            return row.task_id, False
        if verdict == "busy":
            return record.wait_for_other(deadline), False
        if verdict == "lost":
            # An earlier run died while submitting: the task may exist. Look before sending.
            found = self.client.find_task(video_url)
            if found is None and row.upload_url and row.upload_url != video_url:
                found = self.client.find_task(row.upload_url)  # submitted with its own upload
            if found is not None:
                log.info("found the task %s an earlier run submitted", found.id)
                record.submitted(found.id)
                return found.id, False
            if not record.resubmit:
                raise AmbiguousSubmit(
                    f"an earlier run was submitting segment {record.index + 1} when it stopped, "
                    "and no task for it is listed; if you are sure none exists, rerun with "
                    "--resubmit (a second task would be billed)"
                )
            record.claim_anew()
        try:
            task = self.client.submit(self.model, inputs)
        except AmbiguousSubmit as exc:
            try:
                found = self.client.find_task(video_url)
            finally:
                record.release(maybe_created=True)
            if found is None:
                raise AmbiguousSubmit(
                    f"{exc}; no task for segment {record.index + 1} is listed yet: rerun to look "
                    "again, or rerun with --resubmit if you are sure none exists (a second "
                    "task would be billed)",
                    status=exc.status,
                ) from exc
            log.info("the submit's answer was lost, but its task %s is listed", found.id)
            record.submitted(found.id)
            return found.id, False
        except ServiceError as exc:
            # The service answered (4xx, 429) or was never reached: it made no task.
            record.release(maybe_created=False)
            exc.args = (f"{exc.args[0]}; nothing was submitted: rerun the same command",)
            raise
        record.submitted(task.id)
        return task.id, True

    def _download(self, url: str, task_id: str, target: Path, emit: Emit, source: Path) -> None:
        """Download an output; if its URL has expired (403/404/410), fetch the task again for a
        fresh one and try once more."""
        progress = _Throttle(emit, "downloading", source, task_id)
        self._check_output_url(url, task_id)
        try:
            self.client.download(url, target, progress=progress)
        except TransferError as exc:
            if exc.status not in (403, 404, 410):
                raise
            fresh = self.client.get(task_id)
            if not fresh.outputs:
                raise
            log.info("output URL of task %s expired; fetched a fresh one", task_id)
            self._check_output_url(fresh.outputs[0], task_id)
            self.client.download(fresh.outputs[0], target, progress=progress)

    def _check_output_url(self, url: str, task_id: str) -> None:
        check_output_url(url, task_id, allow_insecure_http=self.allow_insecure_http)

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.session.close()


class LocalProvider:
    """The local stand-in server, run in-process on loopback, driven by the same adapter."""

    name = "local"

    def __init__(self, config: Config) -> None:
        from uprez.media.geometry import parse_size
        from uprez.server.runner import LocalServer
        from uprez.server.settings import ServerSettings

        settings = ServerSettings(
            max_size=parse_size(str(config.get("local.max_size"))),
            workers=int(config.get("local.workers")),
            max_duration=float(config.get("limits.max_duration")),
            speed_factor=float(config.get("local.speed_factor")),
            mode=str(config.get("local.mode")),
        )
        self._server: LocalServer | None = LocalServer(settings).start()
        self._inner = WaveSpeedProvider.from_config(
            config, base_url=self._server.base_url, api_key=settings.api_key
        )

    @property
    def server(self) -> LocalServer:
        """The running in-process server."""
        assert self._server is not None
        return self._server

    @property
    def identity(self) -> str:
        """An in-process server lives as long as this process: its tasks are never resumed."""
        return self._inner.identity

    def run(
        self, source: Path, target: Path, *, emit: Emit, record: TaskRecord | None = None
    ) -> ProviderResult:
        """Upscale through the in-process server."""
        return self._inner.run(source, target, emit=emit, record=record)

    def close(self) -> None:
        """Stop the server and remove its files."""
        self._inner.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
