"""Moving files: streamed uploads, and downloads that land atomically or not at all."""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import requests

from uprez.errors import TransferError
from uprez.service.redact import redact_url
from uprez.service.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
#: Called as ``progress(bytes_done, bytes_total_or_None)``.
ByteProgress = Callable[[int, int | None], None]


def guess_type(path: Path) -> str:
    """The content type of a file, by its name."""
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class ProgressReader:
    """A file wrapper that reports bytes read; its ``len`` lets requests send Content-Length."""

    def __init__(self, handle: BinaryIO, size: int, progress: ByteProgress | None) -> None:
        self._handle = handle
        self._size = size
        self._done = 0
        self._progress = progress

    def __len__(self) -> int:
        return self._size - self._done

    def read(self, amount: int = -1) -> bytes:
        chunk = self._handle.read(amount if amount and amount > 0 else CHUNK)
        self._done += len(chunk)
        if self._progress is not None:
            self._progress(self._done, self._size)
        return chunk


class MultipartFile:
    """A ``multipart/form-data`` body of one file field, streamed from disk, of known length."""

    def __init__(
        self, path: Path, field: str, content_type: str, progress: ByteProgress | None = None
    ) -> None:
        self.boundary = "uprez-" + secrets.token_hex(16)
        safe_name = path.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{safe_name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._size = path.stat().st_size
        self._path = path
        self._progress = progress
        self._total = len(self._head) + self._size + len(self._tail)
        self._sent = 0
        self._file: BinaryIO | None = None

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._total - self._sent

    def read(self, amount: int = -1) -> bytes:
        """The next bytes of the body: the head, then the file, then the closing boundary."""
        amount = amount if amount and amount > 0 else CHUNK
        head, body_end = len(self._head), len(self._head) + self._size
        if self._sent < head:
            chunk = self._head[self._sent :]
        elif self._sent < body_end:
            if self._file is None:
                self._file = self._path.open("rb")
            chunk = self._file.read(min(amount, body_end - self._sent))
            if not chunk:  # the file shrank while being sent
                raise TransferError(f"{self._path} changed while it was being uploaded")
            if self._progress is not None:
                self._progress(self._sent - head + len(chunk), self._size)
        else:
            if self._file is not None:
                self._file.close()
                self._file = None
            chunk = self._tail[self._sent - body_end :]
        self._sent += len(chunk)
        return chunk


def download(
    session: requests.Session,
    url: str,
    target: Path,
    *,
    timeout: tuple[float, float],
    retry: RetryPolicy | None = None,
    progress: ByteProgress | None = None,
) -> int:
    """Stream ``url`` into ``target``; return its size.

    The bytes go to a temporary file beside the target, unique to this process; a cut transfer
    resumes with ``Range`` (and starts over if the server ignores it); the size is checked
    against ``Content-Length``; then the file is synced and renamed into place. On failure the
    temporary file is removed and nothing exists at ``target`` that was not there before.
    No ``Authorization`` header is sent: output URLs are not the API's host.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        size = _fetch_resuming(session, url, temp, timeout, retry or RetryPolicy(), progress)
        os.replace(temp, target)
        return size
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _fetch_resuming(
    session: requests.Session,
    url: str,
    temp: Path,
    timeout: tuple[float, float],
    retry: RetryPolicy,
    progress: ByteProgress | None,
) -> int:
    total: int | None = None
    last: Exception | None = None
    with temp.open("wb") as out:
        for attempt in range(1, retry.attempts + 2):
            have = out.tell()
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with session.get(url, headers=headers, stream=True, timeout=timeout) as answer:
                    if answer.status_code == 416:
                        # "bytes */N": the file is N bytes. All here already, or start over.
                        size = _range_total(answer.headers.get("Content-Range", ""))
                        if size is not None and size == have:
                            total = have
                            break
                        out.seek(0)
                        out.truncate()
                        raise _Retryable("HTTP 416", None)
                    if answer.status_code in RETRY_STATUSES:
                        retry_after = parse_retry_after(answer.headers.get("Retry-After"))
                        raise _Retryable(f"HTTP {answer.status_code}", retry_after)
                    if answer.status_code not in (200, 206):
                        raise TransferError(
                            f"download of {redact_url(url)} failed: HTTP {answer.status_code}",
                            status=answer.status_code,
                        )
                    if answer.status_code == 200 and have:
                        log.debug("server ignored Range; restarting the download")
                        out.seek(0)
                        out.truncate()
                        have = 0
                    expected = _expected_length(answer)
                    if expected is not None:
                        total = have + expected
                        _check_space(temp.parent, expected, url)
                    for chunk in answer.iter_content(CHUNK):
                        _write(out, chunk, temp)
                        if progress is not None:
                            progress(out.tell(), total)
                if total is None or out.tell() == total:
                    break
                last = TransferError(
                    f"download of {redact_url(url)} ended at {out.tell()} of {total} bytes"
                )
            except _Retryable as exc:
                last, wait_hint = exc, exc.retry_after
            except requests.RequestException as exc:
                last, wait_hint = exc, None
            log.debug("download attempt %d of %s failed: %s", attempt, redact_url(url), _why(last))
            if attempt < retry.attempts + 1:
                time.sleep(retry.delay(attempt, wait_hint))
        else:
            raise TransferError(
                f"download of {redact_url(url)} failed after {retry.attempts + 1} attempts: "
                f"{_why(last)}"
            )
        out.flush()
        os.fsync(out.fileno())
        size = out.tell()
    if total is not None and size != total:
        raise TransferError(f"download of {redact_url(url)}: got {size} of {total} bytes")
    return size


class _Retryable(Exception):
    """An answer worth asking again for (429 or 5xx)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _why(failure: Exception | None) -> str:
    if failure is None:
        return "incomplete"
    if isinstance(failure, TransferError | _Retryable):
        return str(failure)
    return type(failure).__name__


# Room left free beyond what a download needs, so the disk is never filled to the last byte.
SPACE_MARGIN = 64 * 1024 * 1024


def _range_total(content_range: str) -> int | None:
    """N from a ``Content-Range: bytes */N`` (or ``bytes a-b/N``) header."""
    _, _, size = content_range.rpartition("/")
    return int(size) if size.isdigit() else None


def _check_space(folder: Path, needed: int, url: str) -> None:
    free = free_space(folder)
    if free < needed + SPACE_MARGIN:
        raise TransferError(
            f"not enough free space in {folder} for {redact_url(url)}: {needed} bytes needed "
            f"(+{SPACE_MARGIN // 2**20} MiB margin), {free} free"
        )


def _write(out: BinaryIO, chunk: bytes, temp: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        raise TransferError(f"cannot write in {temp.parent}: {exc.strerror or exc}") from exc


def _expected_length(answer: requests.Response) -> int | None:
    if answer.headers.get("Content-Encoding", "identity") not in ("identity", ""):
        return None  # a compressed body's length says nothing of the file's
    value = answer.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def free_space(folder: Path) -> int:
    """Bytes free on the disk that holds ``folder``."""
    return shutil.disk_usage(folder).free
