"""When to try an idempotent request again, and how long to wait first.

Capped exponential backoff with full jitter; a server's ``Retry-After`` (seconds or HTTP-date)
wins when it asks for longer, up to a cap beyond which waiting is the caller's decision.

:class:`RetryPolicy` holds the configured numbers (``retry.*``); the downloads' resuming loop
and the poll loop wait by it directly. An API request is retried through
:class:`PolicyRetry`, urllib3's :class:`~urllib3.util.retry.Retry` with this policy's waits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Self

from urllib3.exceptions import MaxRetryError
from urllib3.response import HTTPResponse
from urllib3.util.retry import Retry

from uprez import interrupt

if TYPE_CHECKING:
    import requests
    from urllib3.response import BaseHTTPResponse

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header; ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # the asctime form, which HTTP dates in GMT without saying so
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry an idempotent call, and the waits in between.

    >>> RetryPolicy(attempts=3).attempts
    3
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 8.0
    retry_after_cap: float = 60.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """The wait before retry number ``attempt`` (1-based): full jitter under a growing cap."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        jittered = (rng or random).uniform(0, ceiling)
        if retry_after is not None:
            return max(jittered, min(retry_after, self.retry_after_cap))
        return jittered

    def retrying(self, method: str, wait: Callable[[float], None] | None = None) -> PolicyRetry:
        """A fresh :class:`PolicyRetry` for one request of ``method``, which the caller vouches
        is idempotent: ``attempts`` retries on a connection error or a status in
        :data:`RETRY_STATUSES`, each after a wait slept through ``wait`` (by default
        :func:`uprez.interrupt.sleep`, which Ctrl-C cuts short)."""
        return PolicyRetry(
            total=self.attempts,
            allowed_methods=frozenset({method.upper()}),
            status_forcelist=RETRY_STATUSES,
            policy=self,
            wait=wait,
        )


class PolicyRetry(Retry):
    """urllib3's :class:`~urllib3.util.retry.Retry` with uprez's waits.

    Retry decides whether to try again (the method, the status, how many tries are left) and
    keeps the history; this subclass only changes the wait, as :meth:`RetryPolicy.delay` has
    it: full jitter under ``cap`` rather than urllib3's fixed factor, a ``Retry-After`` read
    leniently (urllib3 raises on a value it cannot read; here it asks for no wait) and honoured
    up to ``retry_after_cap`` for every retried status (urllib3: only 413, 429 and 503), and
    slept through ``wait`` so that Ctrl-C cuts it short instead of :func:`time.sleep`.

    The client drives it try by try (:meth:`next_try`, :meth:`sleep_after`) rather than
    mounting it on an ``HTTPAdapter``: the session is the caller's (it may bring adapters of
    its own) and also carries the submit and the uploads, which must not be retried; and
    behind an adapter a body cut after the headers would not be retried at all (requests reads
    the body once urllib3 has returned), while used-up read timeouts would end as a
    ``ConnectionError`` where uprez reports a ``ReadTimeout``.
    """

    def __init__(
        self,
        *args: Any,
        policy: RetryPolicy | None = None,
        wait: Callable[[float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy or RetryPolicy()
        self.wait = wait or interrupt.sleep

    def new(self, **kw: Any) -> Self:
        """The next Retry of the same request: urllib3 builds it from its own parameters, so
        the policy and the wait are carried over here."""
        retry = super().new(**kw)
        retry.policy, retry.wait = self.policy, self.wait
        return retry

    def next_try(
        self,
        method: str,
        url: str,
        *,
        answer: requests.Response | None = None,
        error: Exception | None = None,
    ) -> Self | None:
        """The Retry for the next try after ``answer`` (a retried status) or ``error``; None
        when the tries are used up."""
        seen = _as_urllib3(answer) if answer is not None else None
        try:
            return self.increment(method, url, response=seen, error=error)
        except MaxRetryError:
            return None

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        """The seconds ``Retry-After`` asks for; None when absent or unreadable."""
        return parse_retry_after(response.headers.get("Retry-After"))

    def get_backoff_time(self) -> float:
        """The policy's jittered wait before this try."""
        return self.policy.delay(max(1, len(self.history)))

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait before the next try: the backoff, or the ``Retry-After`` of ``response`` when
        it asks for longer (up to the policy's cap)."""
        retry_after = None
        if response is not None and self.respect_retry_after_header:
            retry_after = self.get_retry_after(response)
        self.wait(self.policy.delay(max(1, len(self.history)), retry_after))

    def sleep_after(self, answer: requests.Response | None = None) -> None:
        """:meth:`sleep`, given the answer as requests hands it over."""
        self.sleep(_as_urllib3(answer) if answer is not None else None)


def _as_urllib3(answer: requests.Response) -> HTTPResponse:
    """What Retry reads of an answer that requests has already read: its status and its
    ``Retry-After``."""
    wait = answer.headers.get("Retry-After")
    headers = {"Retry-After": wait} if wait is not None else None
    return HTTPResponse(status=answer.status_code, headers=headers, preload_content=False)
