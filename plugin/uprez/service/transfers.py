"""Moving files: streamed uploads, and downloads that land atomically or not at all."""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import requests

from uprez.errors import TransferError
from uprez.service.redact import redact_url

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
        self._parts: list[bytes] = [self._head]
        self._file: BinaryIO | None = None
        self._sent = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail) - self._sent

    def read(self, amount: int = -1) -> bytes:
        amount = amount if amount and amount > 0 else CHUNK
        if self._parts:
            chunk = self._parts.pop(0)
        else:
            if self._file is None:
                self._file = self._path.open("rb")
            chunk = self._file.read(amount)
            if chunk and self._progress is not None:
                self._progress(self._sent - len(self._head) + len(chunk), self._size)
            if not chunk:
                self._file.close()
                chunk, self._tail = self._tail, b""
        self._sent += len(chunk)
        return chunk


def download(
    session: requests.Session,
    url: str,
    target: Path,
    *,
    timeout: tuple[float, float],
    attempts: int = 4,
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
        size = _fetch_resuming(session, url, temp, timeout, attempts, progress)
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
    attempts: int,
    progress: ByteProgress | None,
) -> int:
    total: int | None = None
    last: Exception | None = None
    with temp.open("wb") as out:
        for attempt in range(1, attempts + 1):
            have = out.tell()
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with session.get(url, headers=headers, stream=True, timeout=timeout) as answer:
                    if answer.status_code == 416 and total is not None and have == total:
                        break
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
                    for chunk in answer.iter_content(CHUNK):
                        _write(out, chunk, temp)
                        if progress is not None:
                            progress(out.tell(), total)
                if total is None or out.tell() == total:
                    break
                last = TransferError(
                    f"download of {redact_url(url)} ended at {out.tell()} of {total} bytes"
                )
            except requests.RequestException as exc:
                last = exc
            log.debug(
                "download attempt %d of %s failed: %s",
                attempt,
                redact_url(url),
                type(last).__name__,
            )
        else:
            raise TransferError(
                f"download of {redact_url(url)} failed after {attempts} attempts: "
                f"{type(last).__name__ if last else 'incomplete'}"
            )
        out.flush()
        os.fsync(out.fileno())
        size = out.tell()
    if total is not None and size != total:
        raise TransferError(f"download of {redact_url(url)}: got {size} of {total} bytes")
    return size


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
