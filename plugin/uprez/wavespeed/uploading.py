"""Uploading a local file to the service: the ticket + PUT flow, with ``upload/binary`` as the
fallback whenever the ticket flow fails in a way the other route may not (no such route, a 5xx,
a malformed ticket, a refused PUT). A refusal for size is not retried on another route: the
service's limit is the same there, so it is raised as :class:`UploadTooLarge` for a re-plan.

This is where a file's bytes leave the machine: a caller that keeps an audit is told of each
send (:class:`Outgoing`: the file, the host its bytes go to, their size and SHA-256) just before
its first byte goes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from uprez.errors import ServiceError, TransferError, UploadTooLarge
from uprez.net.transfers import ByteProgress
from uprez.net.upload_bodies import MultipartFile, ProgressReader, guess_type
from uprez.net.urls import host_of
from uprez.wavespeed.answers import read_envelope

if TYPE_CHECKING:
    from uprez.wavespeed.connection import Connection

log = logging.getLogger(__name__)
_SIZE_WORDS = ("too large", "too big", "exceed", "size limit", "file size", "413")


class _TryBinary(Exception):
    """The ticket flow failed in a way the binary route may not: the reason, for the log."""


@dataclass(frozen=True)
class Outgoing:
    """A file about to leave the machine: what it is and where its bytes go."""

    path: Path
    host: str  # host[:port] only: never the URL, whose query may be a signature
    size: int
    sha256: str


#: Told of each send of a file just before its first byte goes (a send that fails may be
#: followed by another, by the other route, to another host).
SendWatch = Callable[[Outgoing], None]


class _Announcer:
    """Tells a :data:`SendWatch` of each send, hashing the file once, and only if watched."""

    def __init__(self, path: Path, size: int, watch: SendWatch | None) -> None:
        self._path = path
        self._size = size
        self._watch = watch
        self._digest: str | None = None

    def __call__(self, url: str) -> None:
        if self._watch is None:
            return
        if self._digest is None:
            with self._path.open("rb") as handle:
                self._digest = hashlib.file_digest(handle, "sha256").hexdigest()
        self._watch(Outgoing(self._path, host_of(url), self._size, self._digest))


def upload_file(
    connection: Connection,
    path: Path,
    progress: ByteProgress | None,
    on_send: SendWatch | None = None,
) -> str:
    """Upload ``path``; return the URL the service reads it from. ``on_send`` hears of each
    send before its bytes go (an exception it raises stops the upload)."""
    size = path.stat().st_size
    ctype = guess_type(path)
    announce = _Announcer(path, size, on_send)
    try:
        return _ticket_flow(connection, path, size, ctype, progress, announce)
    except _TryBinary as reason:
        log.info("ticket upload of %s failed (%s); using upload/binary", path.name, reason)
    return _binary_flow(connection, path, size, ctype, progress, announce)


def size_refusal(status: int, message: str, size: int, what: str) -> UploadTooLarge | None:
    """An :class:`UploadTooLarge` if the answer refuses the file for its size."""
    if status == 413 or (status == 400 and any(w in message.lower() for w in _SIZE_WORDS)):
        return UploadTooLarge(
            f"{what}: the service refused {size} bytes as too large (HTTP {status}) "
            f"{message}".rstrip(),
            size=size,
            status=status,
        )
    return None


def _refused(answer: requests.Response, size: int, what: str) -> UploadTooLarge | None:
    text = (
        answer.text[:300]
        if answer.headers.get("Content-Type", "").startswith(("application/json", "text/"))
        else ""
    )
    return size_refusal(answer.status_code, text, size, what)


def _ticket_flow(
    connection: Connection,
    path: Path,
    size: int,
    ctype: str,
    progress: ByteProgress | None,
    announce: _Announcer,
) -> str:
    url = connection.api_url("/media/uploads")
    try:
        answer = connection.session.post(
            url,
            json={"filename": path.name, "size": size, "content_type": ctype},
            headers=connection.api_headers(url),
            timeout=connection.timeout,
        )
    except requests.RequestException as exc:
        raise _TryBinary(type(exc).__name__) from exc
    too_large = _refused(answer, size, "upload ticket")
    if too_large is not None:
        raise too_large
    if answer.status_code in (404, 405) or answer.status_code >= 500:
        raise _TryBinary(f"HTTP {answer.status_code}")
    try:
        data = read_envelope(answer, "upload ticket")
    except ServiceError as exc:
        if exc.status == 200:  # HTTP 200 with an error envelope: the route is in trouble
            raise _TryBinary(str(exc)) from exc
        raise
    put_url, headers, download_url = _instruction(data)
    # The PUT URL is a capability (a signature in its query or a token in its path): not logged.
    log.debug("uploading %s (%d bytes) to %s", path.name, size, host_of(put_url))
    announce(put_url)
    try:
        with path.open("rb") as handle:
            put = connection.session.put(
                put_url,
                # An empty body as bytes: requests would send an empty iterable chunked,
                # and storage PUT URLs want a Content-Length.
                data=ProgressReader(handle, size, progress) if size else b"",
                headers=headers,  # only what the ticket says: never the key
                timeout=connection.upload_timeout,
            )
    except requests.RequestException as exc:
        raise _TryBinary(f"PUT: {type(exc).__name__}") from exc
    too_large = _refused(put, size, f"upload of {path.name}")
    if too_large is not None:
        raise too_large
    if not 200 <= put.status_code < 300:
        raise _TryBinary(f"PUT answered HTTP {put.status_code}")
    return download_url


def _instruction(data: Any) -> tuple[str, dict[str, str], str]:
    """The PUT URL, its headers and the download URL of a ticket; :class:`_TryBinary` if the
    ticket is malformed."""
    instruction = data.get("upload") if isinstance(data, dict) else None
    if (
        not isinstance(instruction, dict)
        or str(instruction.get("method", "PUT")).upper() != "PUT"
        or not isinstance(instruction.get("url"), str)
        or not isinstance(data.get("download_url"), str)
    ):
        raise _TryBinary("the ticket has no PUT instruction")
    given = instruction.get("headers") or {}
    if not isinstance(given, dict):
        raise _TryBinary("the ticket's headers are not an object")
    headers = {str(k): str(v) for k, v in given.items()}
    return str(instruction["url"]), headers, str(data["download_url"])


def _binary_flow(
    connection: Connection,
    path: Path,
    size: int,
    ctype: str,
    progress: ByteProgress | None,
    announce: _Announcer,
) -> str:
    url = connection.api_url("/media/upload/binary")
    body = MultipartFile(path, "file", ctype, progress)
    announce(url)
    try:
        answer = connection.session.post(
            url,
            data=body,
            timeout=connection.upload_timeout,
            headers={"Content-Type": body.content_type, **connection.api_headers(url)},
        )
    except requests.RequestException as exc:
        raise TransferError(f"upload of {path.name}: {type(exc).__name__}") from exc
    too_large = _refused(answer, size, f"upload of {path.name}")
    if too_large is not None:
        raise too_large
    data = read_envelope(answer, "upload")
    if not isinstance(data, dict) or not isinstance(data.get("download_url"), str):
        raise TransferError("upload: the answer has no download_url")
    download_url: str = data["download_url"]
    return download_url
