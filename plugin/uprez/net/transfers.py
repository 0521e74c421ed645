"""Downloads that land atomically or not at all, resuming a cut transfer where it stopped.

Also the home of :data:`ByteProgress`, the progress callback of a transfer either way; the
bodies uploads stream from disk are in :mod:`uprez.net.upload_bodies`.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import requests

from uprez import interrupt
from uprez.atomic import atomic_path
from uprez.errors import TransferError
from uprez.net.redact import redact_url
from uprez.net.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from uprez.net.session import describe

log = logging.getLogger(__name__)

# Bytes read from a download per write to its file. Profiled on loopback: 128 KiB cost the least
# CPU per byte. Each chunk is a new object, and 1 MiB ones (fresh memory each time, too big to
# stay in the CPU's cache on their way to the file) took two and a half times the system time.
CHUNK = 128 * 1024
# A download's bytes are handed to the disk every this many bytes as they arrive (Linux), so the
# fsync that ends it has little left to wait for.
WRITEBACK_STEP = 8 * 1024 * 1024
#: Called as ``progress(bytes_done, bytes_total_or_None)``, by uploads and downloads alike.
ByteProgress = Callable[[int, int | None], None]


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

    The bytes go to a temporary file beside the target (:func:`uprez.atomic.atomic_path`); a cut
    transfer resumes with ``Range`` (and starts over if the server ignores it); the size is
    checked against ``Content-Length``; then the file is synced and renamed into place. On
    failure the temporary file is removed and nothing exists at ``target`` that was not there
    before.
    No ``Authorization`` header is sent: output URLs are not the API's host.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    # Resuming happens within this call, on the open temporary file: nothing outlives a
    # failure. The fetch syncs its own handle (after writeback on the way), so no fsync here.
    with atomic_path(target) as temp:
        return _fetch_resuming(session, url, temp, timeout, retry or RetryPolicy(), progress)


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
        writeback = _Writeback(out)
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
                    done = have
                    for chunk in answer.iter_content(CHUNK):
                        interrupt.check()  # Ctrl-C: stop receiving (the partial file goes)
                        _write(out, chunk, temp)
                        done += len(chunk)
                        writeback.advance(done)
                        if progress is not None:
                            progress(done, total)
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
                interrupt.sleep(retry.delay(attempt, wait_hint))
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


class _Writeback:
    """Has the disk write a download's bytes as they arrive, so that the final fsync is short.

    Otherwise the whole file waits in memory until that fsync, which then writes all of it while
    nothing else happens (a sixth of a 1 GiB download's time, measured on loopback). Only a
    hint: the fsync still decides. Where ``sync_file_range`` is missing it does nothing.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._start = _sync_file_range()
        self._handed = 0

    def advance(self, done: int) -> None:
        """The file has ``done`` bytes: start writing out those not handed to the disk yet."""
        if done < self._handed:  # the download started over
            self._handed = 0
        if self._start is None or done - self._handed < WRITEBACK_STEP:
            return
        self._out.flush()
        self._start(self._out.fileno(), self._handed, done - self._handed)
        self._handed = done


_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writing the range's dirty pages, do not wait


@functools.cache
def _sync_file_range() -> Callable[[int, int, int], object] | None:
    """Linux's ``sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE)``, where it exists."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return lambda fd, offset, count: function(fd, offset, count, _SYNC_FILE_RANGE_WRITE)


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
    return describe(failure)


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
