"""Turning a task's ``video`` URL into a file the server can read.

The server's own uploads are read straight from disk; other ``http(s)`` URLs are fetched.
No other scheme is accepted, so a task can never read the server's file system by URL.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import requests

from uprez import protocol
from uprez.server.uploads import CHUNK, UploadStore

_MEDIA_PATH = re.compile(r"^/media/([0-9a-f]+)/[^/]+$")


class TaskFailure(Exception):
    """Why a task failed, with the task code the service would report."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_url(url: object) -> str:
    """The URL if it is one the server will try to fetch; ``ValueError`` with the reason if not."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("'video' must be a non-empty URL string")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("'video' must be an http(s) URL")
    return url


def resolve_input(
    url: str,
    uploads: UploadStore,
    own_hosts: set[str],
    workdir: Path,
    max_bytes: int,
) -> Path:
    """A readable local file for ``url``; raises :class:`TaskFailure` (1402) if it cannot be had."""
    parts = urlsplit(url)
    match = _MEDIA_PATH.match(parts.path)
    if match and parts.netloc in own_hosts:
        media = uploads.get(match.group(1))
        if media is None:
            raise TaskFailure(protocol.CODE_MEDIA_UNREACHABLE, f"media not found: {url}")
        return media.path
    return _fetch(url, workdir, max_bytes)


def _fetch(url: str, workdir: Path, max_bytes: int) -> Path:
    target = workdir / "input"
    try:
        with requests.get(url, stream=True, timeout=(10, 30)) as answer:
            if answer.status_code != 200:
                raise TaskFailure(
                    protocol.CODE_MEDIA_UNREACHABLE,
                    f"media could not be fetched: HTTP {answer.status_code}",
                )
            written = 0
            with target.open("wb") as out:
                for chunk in answer.iter_content(CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise TaskFailure(
                            protocol.CODE_INVALID_PARAMETER,
                            f"media larger than {max_bytes} bytes",
                        )
                    out.write(chunk)
    except requests.RequestException as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise TaskFailure(
            protocol.CODE_MEDIA_UNREACHABLE, f"media could not be fetched: {type(exc).__name__}"
        ) from exc
    return target
