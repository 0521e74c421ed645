"""The HTTP connection to the WaveSpeed API: one session, the base URL, the key, the timeouts
and the retry policy, and the requests every leg is built on.

It is its own module so that the legs (:mod:`~uprez.wavespeed.uploading`,
:mod:`~uprez.wavespeed.submit_answer`, :mod:`~uprez.wavespeed.waiting`,
:mod:`~uprez.wavespeed.lookup`, :mod:`~uprez.wavespeed.money`) take a :class:`Connection` and
import nothing above it, while :class:`~uprez.wavespeed.client.WaveSpeedClient`, the façade,
imports them: the imports run one way. Every leg uses the same session
(:class:`~uprez.net.session.ServiceSession`), so the trusted authorities and the proxy are the
same everywhere; the API key is sent to the API's host only, never to upload or output hosts.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from uprez import interrupt, protocol
from uprez.errors import ConfigError, RateLimited, ServiceError
from uprez.net.redact import install_log_redaction, redact_url
from uprez.net.retry import RetryPolicy, parse_retry_after
from uprez.net.session import ServiceSession, describe
from uprez.net.urls import host_of, parse_strict
from uprez.version import __version__

log = logging.getLogger(__name__)
install_log_redaction()

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


class Connection:
    """What every request to the service needs: where, with which key, how long to wait, how
    often to try again, and (``ca_bundle``, ``proxy``; see :class:`ServiceSession`) whom to
    trust and which proxy to go through, unless a ``session`` is given. Refuses a malformed base
    URL or key when made."""

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
        ca_bundle: Path | None = None,
        proxy: str | None = None,
    ) -> None:
        try:
            parse_strict(base_url, "$.provider.base_url")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        check_key(api_key)
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.api_host = host_of(self.base_url)
        self.session = session or ServiceSession(ca_bundle=ca_bundle, proxy=proxy)
        self.retry = retry or RetryPolicy()
        self.timeout = (connect_timeout, read_timeout)
        self.upload_timeout = (connect_timeout, upload_timeout)
        # Cut short when the run is interrupted (Ctrl-C): polls, pacing and retries all wait here.
        self.sleep: Callable[[float], None] = interrupt.sleep

    def __repr__(self) -> str:
        return f"Connection({self.base_url!r}, api_key=<redacted>)"

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
        :class:`~uprez.net.retry.PolicyRetry`.

        A ``Retry-After`` longer than ``retry.retry_after_cap`` stops at once (waiting that long
        is the caller's decision), which Retry cannot say, so that check stays here.
        """
        retry = self.retry.retrying(method, self.sleep)
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
                log.debug("%s: %s (attempt %d)", what, describe(exc), attempt)
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
        why = describe(error) if error is not None else "no answer"
        return ServiceError(f"{what}: the service could not be reached ({why})", task_id=task_id)
    if answer.status_code == 429:
        return RateLimited(
            f"{what}: still rate limited after retries", retry_after=retry_after, task_id=task_id
        )
    return ServiceError(
        f"{what}: HTTP {answer.status_code}", status=answer.status_code, task_id=task_id
    )
