"""The WaveSpeed service adapter: upload, submit, wait and download, on one HTTP session.

Every leg uses the same :class:`requests.Session`, so proxies and ``REQUESTS_CA_BUNDLE`` apply
everywhere; the API key is sent to the API's host only, never to upload or output hosts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from uprez import protocol
from uprez.errors import (
    AmbiguousSubmit,
    AuthError,
    JobTimeout,
    RateLimited,
    ServiceError,
    TaskFailed,
    TransferError,
)
from uprez.service.answers import TaskState, parse_prediction, read_envelope
from uprez.service.polling import Poller, PollSchedule
from uprez.service.redact import install_log_redaction
from uprez.service.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from uprez.service.transfers import (
    ByteProgress,
    MultipartFile,
    ProgressReader,
    download,
    guess_type,
)

log = logging.getLogger(__name__)
install_log_redaction()

#: Called with each new :class:`TaskState` while waiting.
StateCallback = Callable[[TaskState], None]


class WaveSpeedClient:
    """A client of the WaveSpeed prediction API (or of ``uprez serve``, which speaks it too).

    >>> client = WaveSpeedClient("http://127.0.0.1:8765", api_key="k")  # doctest: +SKIP
    >>> url = client.upload(Path("shot.mp4"))                            # doctest: +SKIP
    >>> task = client.submit("runwayml/upscale-v1", {"video": url})       # doctest: +SKIP
    >>> done = client.wait(task.id, deadline=time.monotonic() + 600)     # doctest: +SKIP
    >>> client.download(done.outputs[0], Path("shot_4k.mp4"))            # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        upload_timeout: float = 300.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._api_host = urlsplit(self.base_url).netloc
        self.session = session or _pooled_session()
        self.retry = retry or RetryPolicy()
        self._timeout = (connect_timeout, read_timeout)
        self._upload_timeout = (connect_timeout, upload_timeout)
        self._sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"WaveSpeedClient({self.base_url!r}, api_key=<redacted>)"

    # -- plumbing ------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{protocol.API_PREFIX}{path}"

    def _auth(self, url: str) -> dict[str, str]:
        # The key goes to the API's own host and nowhere else.
        if urlsplit(url).netloc != self._api_host:
            return {}
        return {"Authorization": f"Bearer {self._key}"}

    def _get(self, url: str, what: str, task_id: str | None = None) -> requests.Response:
        """GET with retries on 429, 5xx and connection errors (GETs are idempotent)."""
        for attempt in range(1, self.retry.attempts + 2):
            retry_after: float | None = None
            try:
                answer = self.session.get(url, headers=self._auth(url), timeout=self._timeout)
            except requests.RequestException as exc:
                failure: Exception = exc
                log.debug("%s: %s (attempt %d)", what, type(exc).__name__, attempt)
            else:
                if answer.status_code not in RETRY_STATUSES:
                    return answer
                retry_after = parse_retry_after(answer.headers.get("Retry-After"))
                if retry_after is not None and retry_after > self.retry.retry_after_cap:
                    raise RateLimited(
                        f"{what}: the service asks to wait {retry_after:.0f} s",
                        retry_after=retry_after,
                        status=answer.status_code,
                        task_id=task_id,
                    )
                failure = ServiceError(
                    f"{what}: HTTP {answer.status_code}", status=answer.status_code, task_id=task_id
                )
                log.debug("%s: HTTP %d (attempt %d)", what, answer.status_code, attempt)
            if attempt > self.retry.attempts:
                break
            self._sleep(self.retry.delay(attempt, retry_after))
        if isinstance(failure, ServiceError):
            if failure.status == 429:
                raise RateLimited(
                    f"{what}: still rate limited after retries",
                    retry_after=retry_after,
                    task_id=task_id,
                )
            raise failure
        raise ServiceError(
            f"{what}: the service could not be reached ({type(failure).__name__})", task_id=task_id
        ) from failure

    # -- upload --------------------------------------------------------------------------------

    def upload(self, path: Path, progress: ByteProgress | None = None) -> str:
        """Upload a local file; return the URL the service reads it from.

        Uses the ticket + PUT flow, streamed from disk; falls back to the multipart
        ``upload/binary`` route when the ticket route does not exist (404/405).
        """
        size = path.stat().st_size
        ctype = guess_type(path)
        url = self._url("/media/uploads")
        try:
            answer = self.session.post(
                url,
                json={"filename": path.name, "size": size, "content_type": ctype},
                headers=self._auth(url),
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise TransferError(f"upload ticket: {type(exc).__name__}") from exc
        if answer.status_code in (404, 405):
            log.info("no ticket upload route here; using upload/binary")
            return self._upload_binary(path, ctype, progress)
        data = read_envelope(answer, "upload ticket")
        instruction = data.get("upload") if isinstance(data, dict) else None
        if (
            not isinstance(instruction, dict)
            or str(instruction.get("method", "")).upper() != "PUT"
            or not isinstance(instruction.get("url"), str)
            or not isinstance(data.get("download_url"), str)
        ):
            raise TransferError("upload ticket: the answer has no PUT instruction")
        headers = {str(k): str(v) for k, v in (instruction.get("headers") or {}).items()}
        put_url: str = instruction["url"]
        # The PUT URL is a capability (a signature in its query or a token in its path): not logged.
        log.debug("uploading %s (%d bytes) to %s", path.name, size, urlsplit(put_url).netloc)
        try:
            with path.open("rb") as handle:
                put = self.session.put(
                    put_url,
                    # An empty body as bytes: requests would send an empty iterable chunked,
                    # and storage PUT URLs want a Content-Length.
                    data=ProgressReader(handle, size, progress) if size else b"",
                    headers=headers,  # only what the ticket says: never the key
                    timeout=self._upload_timeout,
                )
        except requests.RequestException as exc:
            raise TransferError(f"upload of {path.name}: {type(exc).__name__}") from exc
        if not 200 <= put.status_code < 300:
            raise TransferError(
                f"upload of {path.name}: HTTP {put.status_code}", status=put.status_code
            )
        download_url: str = data["download_url"]
        return download_url

    def _upload_binary(self, path: Path, ctype: str, progress: ByteProgress | None) -> str:
        url = self._url("/media/upload/binary")
        body = MultipartFile(path, "file", ctype, progress)
        try:
            answer = self.session.post(
                url,
                data=body,
                timeout=self._upload_timeout,
                headers={"Content-Type": body.content_type, **self._auth(url)},
            )
        except requests.RequestException as exc:
            raise TransferError(f"upload of {path.name}: {type(exc).__name__}") from exc
        data = read_envelope(answer, "upload")
        if not isinstance(data, dict) or not isinstance(data.get("download_url"), str):
            raise TransferError("upload: the answer has no download_url")
        download_url: str = data["download_url"]
        return download_url

    # -- tasks ---------------------------------------------------------------------------------

    def submit(self, model: str, inputs: dict[str, Any]) -> TaskState:
        """Create a task. A POST that may have reached the server is never repeated; one the
        service refused with 429 (no task made) is sent again after the wait it asks for.

        Raises :class:`AmbiguousSubmit` when the answer was lost, since a paid task may exist.
        """
        for attempt in range(1, self.retry.attempts + 2):
            try:
                return self._submit_once(model, inputs)
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else None
                if attempt > self.retry.attempts or (wait or 0) > self.retry.retry_after_cap:
                    raise
                log.info("submit rate limited; trying again (attempt %d)", attempt + 1)
                self._sleep(self.retry.delay(attempt, wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def _submit_once(self, model: str, inputs: dict[str, Any]) -> TaskState:
        url = self._url("/" + model.strip("/"))
        try:
            answer = self.session.post(
                url, json=inputs, headers=self._auth(url), timeout=self._timeout
            )
        except requests.ConnectTimeout as exc:
            raise ServiceError(f"submit: could not connect to {self._api_host}") from exc
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                raise ServiceError(
                    f"submit: could not connect to {self._api_host}; nothing was sent"
                ) from exc
            raise AmbiguousSubmit(
                f"submit: no answer ({type(exc).__name__}); the task may have been created, "
                "so it was not sent again"
            ) from exc
        except requests.RequestException as exc:
            raise AmbiguousSubmit(
                f"submit: no answer ({type(exc).__name__}); the task may have been created, "
                "so it was not sent again"
            ) from exc
        if answer.status_code >= 500:
            raise AmbiguousSubmit(
                f"submit: HTTP {answer.status_code}; the task may have been created, "
                "so it was not sent again",
                status=answer.status_code,
            )
        try:
            state = parse_prediction(read_envelope(answer, "submit"), "submit")
        except ServiceError as exc:
            if answer.status_code == 200 and not isinstance(exc, RateLimited):
                raise AmbiguousSubmit(f"{exc}; the task may have been created", status=200) from exc
            raise
        log.info("task %s submitted (%s)", state.id, model)
        return state

    def find_task(self, video_url: str, pages: int = 3) -> TaskState | None:
        """The newest recent task whose input is ``video_url``, from the predictions list.

        This is how a submit whose answer was lost is recovered without sending it again.
        """
        for page in range(1, pages + 1):
            url = self._url(f"/predictions?page={page}&page_size=100")
            data = read_envelope(self._get(url, "recent tasks"), "recent tasks")
            items = data.get("items") if isinstance(data, dict) else data
            if not isinstance(items, list) or not items:
                return None
            for item in items:
                inputs = item.get("input") if isinstance(item, dict) else None
                if isinstance(inputs, dict) and inputs.get("video") == video_url:
                    return parse_prediction(item, "recent tasks")
        return None

    def get(self, task_id: str) -> TaskState:
        """The task's current state (``/result``, or the bare path where that is missing)."""
        what = f"task {task_id}"
        answer = self._get(self._url(f"/predictions/{task_id}/result"), what, task_id)
        if answer.status_code == 404:
            answer = self._get(self._url(f"/predictions/{task_id}"), what, task_id)
        return parse_prediction(read_envelope(answer, what, task_id), what, task_id)

    def wait(
        self,
        task_id: str,
        *,
        deadline: float,
        schedule: PollSchedule | None = None,
        on_state: StateCallback | None = None,
        poller: Poller | None = None,
    ) -> TaskState:
        """Poll until the task is terminal; return it if completed, raise otherwise.

        ``deadline`` is a :func:`time.monotonic` time. Unknown statuses count as "not yet".
        ``poller`` decides when to ask (by default ``schedule``'s growing intervals, asking at
        once first); pass one with an estimate to wait for the task's likely end instead.
        Raises :class:`TaskFailed` (with the task code) or :class:`JobTimeout`.
        """
        poller = poller or Poller(schedule or PollSchedule())
        last_status = ""
        garbled = 0
        first = poller.next_wait(time.monotonic(), None)
        if first > 0:
            self._sleep(min(first, max(0.0, deadline - time.monotonic())))
        while True:
            try:
                state = self.get(task_id)
            except RateLimited as exc:
                fallback = poller.next_wait(time.monotonic(), last_status or protocol.PENDING)
                wait = min(exc.retry_after or fallback, self.retry.retry_after_cap)
                if time.monotonic() + wait > deadline:
                    raise
                self._sleep(wait)
                continue
            except ServiceError as exc:
                # A garbled answer to a GET says nothing of the task: ask again, a few times.
                if (
                    exc.status != 200
                    or isinstance(exc, AuthError)
                    or garbled >= self.retry.attempts
                ):
                    raise
                garbled += 1
                self._sleep(self.retry.delay(garbled))
                continue
            garbled = 0
            if state.status != last_status:
                log.debug("task %s is %s", task_id, state.status)
                last_status = state.status
            if on_state is not None:
                on_state(state)
            if state.status == protocol.COMPLETED:
                if not state.outputs:
                    raise TaskFailed(
                        "the task completed without outputs; rerun to submit it again",
                        task_id=task_id,
                    )
                return state
            if state.finished:
                detail = f": {state.error}" if state.error else ""
                hint = (
                    "fix the input, then rerun"
                    if state.code is not None and 1000 <= state.code < 2000
                    else "rerun to submit it again (failed tasks are refunded)"
                )
                raise TaskFailed(
                    f"the task ended {state.status}{detail}; {hint}",
                    code=state.code,
                    task_id=task_id,
                )
            pause = poller.next_wait(time.monotonic(), state.status)
            if time.monotonic() + pause > deadline:
                raise JobTimeout(
                    f"the task is still {state.status} at the deadline; it may still finish: "
                    "rerun to pick it up",
                    task_id=task_id,
                )
            self._sleep(pause)

    def download(self, url: str, target: Path, progress: ByteProgress | None = None) -> int:
        """Download an output into ``target`` atomically; return its size in bytes."""
        return download(
            self.session, url, target, timeout=self._timeout, progress=progress, retry=self.retry
        )


# Connections kept open per host. requests keeps 10, so a watch folder or farm node running more
# jobs than that at once would drop connections and open new ones (a TLS handshake each).
POOL_SIZE = 64


def _pooled_session() -> requests.Session:
    """A session that keeps a connection per concurrent job, for every job of a process."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when the connection itself failed (refused, no route, name not found): the POST
    never left this machine, so no task can exist."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | NameResolutionError)
