"""The WaveSpeed service adapter: upload, submit, wait and download, on one HTTP connection.

A façade: each leg lives in a module of its own that takes the
:class:`~uprez.wavespeed.connection.Connection` (the session, key, timeouts and retries), and this
class ties them together for callers. The legs never import it, so the imports run one way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from uprez.account import AccountLimits
from uprez.errors import RateLimited
from uprez.net.retry import RetryPolicy
from uprez.net.transfers import ByteProgress, download
from uprez.wavespeed import money
from uprez.wavespeed.answers import TaskState
from uprez.wavespeed.connection import Connection
from uprez.wavespeed.deleting import delete_tasks
from uprez.wavespeed.lookup import find_task
from uprez.wavespeed.pacing import SubmitPacer, account_fingerprint
from uprez.wavespeed.reading import read_task
from uprez.wavespeed.submit_answer import post_submit
from uprez.wavespeed.uploading import SendWatch, upload_file
from uprez.wavespeed.waiting import wait_for_task

log = logging.getLogger(__name__)

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
        pacer: SubmitPacer | None = None,
        account: AccountLimits | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        upload_timeout: float = 300.0,
    ) -> None:
        self.connection = Connection(
            base_url,
            api_key,
            session=session,
            retry=retry,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            upload_timeout=upload_timeout,
        )
        self.pacer = pacer or SubmitPacer(None)
        #: The account behind the key, and the limits its ledger turns share (none by default).
        self.account = account or AccountLimits(account_fingerprint(base_url, api_key))

    def __repr__(self) -> str:
        return f"WaveSpeedClient({self.base_url!r}, api_key=<redacted>)"

    # -- the connection's parts callers use --------------------------------------------------

    @property
    def base_url(self) -> str:
        """The service's root URL, without a trailing slash."""
        return self.connection.base_url

    @property
    def session(self) -> requests.Session:
        """The HTTP session every leg uses (callers add hooks to it, and close it)."""
        return self.connection.session

    def api_url(self, path: str) -> str:
        """The URL of an API path such as ``/predictions``."""
        return self.connection.api_url(path)

    def api_headers(self, url: str) -> dict[str, str]:
        """The key and client headers, for the API's own host only (never storage or a CDN)."""
        return self.connection.api_headers(url)

    # -- money ---------------------------------------------------------------------------------

    def balance(self) -> Decimal:
        """The account's balance in US dollars (see :func:`uprez.wavespeed.money.balance`)."""
        return money.balance(self.connection)

    def price(self, model: str, inputs: dict[str, Any]) -> Decimal | None:
        """The service's price for ``model`` (see :func:`uprez.wavespeed.money.quoted_price`)."""
        return money.quoted_price(self.connection, model, inputs)

    # -- upload --------------------------------------------------------------------------------

    def upload(
        self, path: Path, progress: ByteProgress | None = None, on_send: SendWatch | None = None
    ) -> str:
        """Upload a local file; return the URL the service reads it from. ``on_send`` hears of
        each send just before its bytes leave (see :mod:`uprez.wavespeed.uploading`)."""
        return upload_file(self.connection, path, progress, on_send)

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
                self.pacer.wait_turn(deadline, self.connection.sleep)
            except TimeoutError:
                raise RateLimited(
                    "submit: the account's submits per minute are used up until after the "
                    "job's deadline; nothing was submitted"
                ) from None
            try:
                state = post_submit(self.connection, model, inputs)
            except RateLimited as exc:
                if (
                    exc.retry_after is not None
                    and exc.retry_after > self.connection.retry.retry_after_cap
                ):
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
        self,
        model: str,
        video_url: str,
        *,
        since: float,
        until: float | None = None,
        strict: bool = False,
    ) -> TaskState | None:
        """The task of ``model`` for ``video_url`` created since ``since`` (unix seconds),
        found through the listing; None when none is found or the listing fails (``strict``:
        a failing listing raises)."""
        return find_task(
            self.connection,
            model,
            video_url,
            since=since,
            until=until if until is not None else time.time(),
            strict=strict,
        )

    def get(self, task_id: str) -> TaskState:
        """The task's current state; see :func:`uprez.wavespeed.reading.read_task`."""
        return read_task(self.connection, task_id)

    def wait(
        self,
        task_id: str,
        *,
        deadline: float,
        on_state: StateCallback | None = None,
        poller: Any = None,
    ) -> TaskState:
        """Poll until the task is terminal; see :func:`uprez.wavespeed.waiting.wait_for_task`."""
        return wait_for_task(
            self.connection, task_id, deadline=deadline, on_state=on_state, poller=poller
        )

    def delete(self, task_ids: Sequence[str]) -> int:
        """Delete tasks, with their inputs and outputs (``POST /api/v3/predictions/delete``);
        return how many the service deleted (see :func:`uprez.wavespeed.deleting.delete_tasks`)."""
        return delete_tasks(self.connection, task_ids)

    def download(self, url: str, target: Path, progress: ByteProgress | None = None) -> int:
        """Download an output into ``target`` atomically; return its size in bytes."""
        connection = self.connection
        return download(
            connection.session,
            url,
            target,
            timeout=connection.timeout,
            progress=progress,
            retry=connection.retry,
        )
