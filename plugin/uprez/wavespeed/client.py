"""The WaveSpeed service adapter: upload, submit, wait and download, on one HTTP session.

Every leg uses the same :class:`requests.Session`, so proxies and ``REQUESTS_CA_BUNDLE`` apply
everywhere; the API key is sent to the API's host only, never to upload or output hosts.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from uprez import __version__, interrupt, protocol
from uprez.errors import (
    ConfigError,
    RateLimited,
    ServiceError,
    TaskGone,
)
from uprez.wavespeed import money
from uprez.wavespeed.answers import TaskState, parse_prediction, read_envelope
from uprez.wavespeed.lookup import find_task
from uprez.wavespeed.pacing import SubmitPacer
from uprez.wavespeed.redact import install_log_redaction, redact_url
from uprez.wavespeed.retry import RetryPolicy, parse_retry_after
from uprez.wavespeed.submit_answer import post_submit
from uprez.wavespeed.transfers import ByteProgress, download
from uprez.wavespeed.uploading import upload_file
from uprez.wavespeed.urls import host_of, parse_strict
from uprez.wavespeed.waiting import wait_for_task

log = logging.getLogger(__name__)
install_log_redaction()

#: Called with each new :class:`TaskState` while waiting.
StateCallback = Callable[[TaskState], None]

#: Sent with every API request, as the official clients do.
CLIENT_HEADERS = {
    "X-Client-Name": "uprez",
    "X-Client-Version": __version__,
    "X-Client-OS": f"{platform.system().lower() or 'unknown'}-{platform.machine().lower()}",
}


def check_key(api_key: str) -> None:
    """Refuse a key that cannot be sent in a header as it is (a config error, not an outage)."""
    if not api_key or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in api_key):
        raise ConfigError(
            "$.provider.api_key: the API key is empty or holds spaces or control characters "
            "(a stray newline from a file?); set WAVESPEED_API_KEY to the key alone"
        )


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
        pacer: SubmitPacer | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        upload_timeout: float = 300.0,
    ) -> None:
        try:
            parse_strict(base_url, "$.provider.base_url")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        check_key(api_key)
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.api_host = host_of(self.base_url)
        self.session = session or _pooled_session()
        self.retry = retry or RetryPolicy()
        self.pacer = pacer or SubmitPacer(None)
        self.timeout = (connect_timeout, read_timeout)
        self.upload_timeout = (connect_timeout, upload_timeout)
        # Cut short when the run is interrupted (Ctrl-C): polls, pacing and retries all wait here.
        self._sleep: Callable[[float], None] = interrupt.sleep

    def __repr__(self) -> str:
        return f"WaveSpeedClient({self.base_url!r}, api_key=<redacted>)"

    # -- plumbing ------------------------------------------------------------------------------

    def api_url(self, path: str) -> str:
        """The URL of an API path such as ``/predictions``."""
        return f"{self.base_url}{protocol.API_PREFIX}{path}"

    def api_headers(self, url: str) -> dict[str, str]:
        """The key and client headers, for the API's own host only (never storage or a CDN)."""
        if host_of(url) != self.api_host:
            return {}
        return {"Authorization": f"Bearer {self._key}", **CLIENT_HEADERS}

    def get_url(self, url: str, what: str, task_id: str | None = None) -> requests.Response:
        """GET with retries on 429, 5xx and connection errors (GETs are idempotent)."""
        return self._idempotent("GET", url, what, task_id)

    def post_json(self, url: str, body: dict[str, Any], what: str) -> requests.Response:
        """A POST that only reads (the listing, a price), retried like a GET."""
        return self._idempotent("POST", url, what, None, body)

    def _idempotent(
        self,
        method: str,
        url: str,
        what: str,
        task_id: str | None,
        body: dict[str, Any] | None = None,
    ) -> requests.Response:
        """One request the caller vouches is idempotent, retried by a
        :class:`~uprez.wavespeed.retry.PolicyRetry`.

        A ``Retry-After`` longer than ``retry.retry_after_cap`` stops at once (waiting that long
        is the caller's decision), which Retry cannot say, so that check stays here.
        """
        retry = self.retry.retrying(method, self._sleep)
        shown = redact_url(url)
        while True:
            attempt = len(retry.history) + 1
            answer: requests.Response | None = None
            error: requests.RequestException | None = None
            retry_after: float | None = None
            try:
                answer = self.session.request(
                    method, url, json=body, headers=self.api_headers(url), timeout=self.timeout
                )
            except requests.RequestException as exc:
                error = exc
                log.debug("%s: %s (attempt %d)", what, type(exc).__name__, attempt)
            else:
                if not retry.is_retry(method, answer.status_code):
                    return answer
                retry_after = parse_retry_after(answer.headers.get("Retry-After"))
                if retry_after is not None and retry_after > self.retry.retry_after_cap:
                    raise RateLimited(
                        f"{what}: the service asks to wait {retry_after:.0f} s",
                        retry_after=retry_after,
                        status=answer.status_code,
                        task_id=task_id,
                    )
                log.debug("%s: HTTP %d (attempt %d)", what, answer.status_code, attempt)
            following = retry.next_try(method, shown, answer=answer, error=error)
            if following is None:
                raise _gave_up(what, task_id, answer, error, retry_after) from error
            retry = following
            retry.sleep_after(answer)

    # -- money ---------------------------------------------------------------------------------

    def balance(self) -> Decimal:
        """The account's balance in US dollars (see :func:`uprez.wavespeed.money.balance`)."""
        return money.balance(self)

    def price(self, model: str, inputs: dict[str, Any]) -> Decimal | None:
        """The service's price for ``model`` (see :func:`uprez.wavespeed.money.quoted_price`)."""
        return money.quoted_price(self, model, inputs)

    # -- upload --------------------------------------------------------------------------------

    def upload(self, path: Path, progress: ByteProgress | None = None) -> str:
        """Upload a local file; return the URL the service reads it from (see
        :mod:`uprez.wavespeed.uploading`)."""
        return upload_file(self, path, progress)

    # -- tasks ---------------------------------------------------------------------------------

    def submit(
        self, model: str, inputs: dict[str, Any], *, deadline: float | None = None
    ) -> TaskState:
        """Create a task. A POST that may have reached the server is never repeated; one the
        service refused with 429 (no task made) waits for the account's rate window and is sent
        again, until ``deadline`` (a :func:`time.monotonic` time; by default 10 minutes).

        Raises :class:`AmbiguousSubmit` when the answer was lost, since a paid task may exist.
        """
        deadline = deadline if deadline is not None else time.monotonic() + 600.0
        while True:
            try:
                self.pacer.wait_turn(deadline, self._sleep)
            except TimeoutError:
                raise RateLimited(
                    "submit: the account's submits per minute are used up until after the "
                    "job's deadline; nothing was submitted"
                ) from None
            try:
                state = post_submit(self, model, inputs)
            except RateLimited as exc:
                if exc.retry_after is not None and exc.retry_after > self.retry.retry_after_cap:
                    raise RateLimited(
                        f"submit: the service asks to wait {exc.retry_after:.0f} s, longer than "
                        "retry.retry_after_cap; nothing was submitted",
                        retry_after=exc.retry_after,
                    ) from exc
                # The service's own wait when it gives one; else until its window has reset.
                hold = self.pacer.refused(exc.retry_after)
                log.info(
                    "submit refused by the account's rate limit (no task made); trying again "
                    "in %.0f s",
                    hold,
                )
                continue
            self.pacer.accepted()
            return state

    def find_task(
        self, model: str, video_url: str, *, since: float, until: float | None = None
    ) -> TaskState | None:
        """The task of ``model`` for ``video_url`` created since ``since`` (unix seconds),
        found through the listing; None when none is found or the listing fails."""
        return find_task(
            self, model, video_url, since=since, until=until if until is not None else time.time()
        )

    def get(self, task_id: str) -> TaskState:
        """The task's current state (``/result``, or the bare path where that is missing).

        Raises :class:`TaskGone` when the service does not know the task (any more)."""
        what = f"task {task_id}"
        answer = self.get_url(self.api_url(f"/predictions/{task_id}/result"), what, task_id)
        if answer.status_code == 404:
            answer = self.get_url(self.api_url(f"/predictions/{task_id}"), what, task_id)
        if answer.status_code == 404:
            raise TaskGone(
                f"the service does not know task {task_id} (tasks are kept 7 days, and a "
                "restarted local server forgets its own); nothing was submitted again: rerun "
                "with --resubmit to pay for a new task",
                status=404,
                task_id=task_id,
            )
        return parse_prediction(read_envelope(answer, what, task_id), what, task_id)

    def wait(
        self,
        task_id: str,
        *,
        deadline: float,
        on_state: StateCallback | None = None,
        poller: Any = None,
    ) -> TaskState:
        """Poll until the task is terminal; see :func:`uprez.wavespeed.waiting.wait_for_task`."""
        return wait_for_task(self, task_id, deadline=deadline, on_state=on_state, poller=poller)

    def download(self, url: str, target: Path, progress: ByteProgress | None = None) -> int:
        """Download an output into ``target`` atomically; return its size in bytes."""
        return download(
            self.session, url, target, timeout=self.timeout, progress=progress, retry=self.retry
        )


def _gave_up(
    what: str,
    task_id: str | None,
    answer: requests.Response | None,
    error: requests.RequestException | None,
    retry_after: float | None,
) -> ServiceError:
    """The error an idempotent request ends with when its tries are used up: the last
    answer's status (429 as :class:`RateLimited`), or the service out of reach."""
    if answer is None:
        return ServiceError(
            f"{what}: the service could not be reached ({type(error).__name__})", task_id=task_id
        )
    if answer.status_code == 429:
        return RateLimited(
            f"{what}: still rate limited after retries", retry_after=retry_after, task_id=task_id
        )
    return ServiceError(
        f"{what}: HTTP {answer.status_code}", status=answer.status_code, task_id=task_id
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
