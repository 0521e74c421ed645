"""Fetching a finished task's output into place: its URL checked before anything is sent there,
and an expired URL renewed once from the task.

Apart from the provider's journaled upload and submit path because nothing here can create or
pay for a task: the task is done, and only its result is fetched (again, if need be).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from uprez.errors import ProxyRefused, TransferError, UntrustedCertificate
from uprez.net.redact import redact_url
from uprez.net.urls import parse_strict, plain_http_allowed

if TYPE_CHECKING:
    from uprez.net.transfers import ByteProgress
    from uprez.wavespeed.client import WaveSpeedClient

log = logging.getLogger(__name__)
# What an output URL that has expired answers: worth asking the task for a fresh one.
EXPIRED = (403, 404, 410)


def check_output_url(url: str, task_id: str, *, allow_insecure_http: bool = False) -> None:
    """Refuse an output URL that is not a plain HTTPS URL (loopback aside) unless plain HTTP
    is allowed; user information and backslashes are refused always."""
    try:
        parts = parse_strict(url, f"task {task_id}'s output")
    except ValueError as exc:
        raise TransferError(f"{exc}: refused", task_id=task_id) from None
    if not plain_http_allowed(parts, allow_insecure_http):
        raise TransferError(
            f"task {task_id}'s output is at {redact_url(url)}, not an HTTPS URL: refused "
            "(set provider.allow_insecure_http = true to accept it)",
            task_id=task_id,
        )


def fetch_output(
    client: WaveSpeedClient,
    url: str,
    task_id: str,
    target: Path,
    progress: ByteProgress,
    *,
    allow_insecure_http: bool,
) -> None:
    """Download an output into ``target``; if its URL has expired (403/404/410), fetch the task
    again for a fresh one and try once more."""
    check_output_url(url, task_id, allow_insecure_http=allow_insecure_http)
    try:
        _download(client, url, task_id, target, progress)
    except TransferError as exc:
        if exc.status not in EXPIRED:
            raise
        fresh = client.get(task_id)
        if not fresh.outputs:
            raise
        log.info("output URL of task %s expired; fetched a fresh one", task_id)
        check_output_url(fresh.outputs[0], task_id, allow_insecure_http=allow_insecure_http)
        _download(client, fresh.outputs[0], task_id, target, progress)


def _download(
    client: WaveSpeedClient, url: str, task_id: str, target: Path, progress: ByteProgress
) -> None:
    """One download of a paid task's output. A proxy's refusal is a failed download (so the
    run names the task to collect); an untrusted certificate says the task is done."""
    try:
        client.download(url, target, progress=progress)
    except ProxyRefused as exc:
        raise TransferError(f"download: {exc}", task_id=task_id) from exc
    except UntrustedCertificate as exc:
        exc.add_note(f"task {task_id} completed: rerun to download its result once it is fixed")
        raise
