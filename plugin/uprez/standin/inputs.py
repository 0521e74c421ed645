"""Turning a task's ``video`` URL into a file the server can read, as the real model does:
every input is fetched over HTTP, the server's own uploads included (from its storage port).

Inputs are streamed to the task's work folder, never held in memory, and bounded in size. An
input that cannot be fetched (unknown, expired, refused, unreachable) fails the task with code
1402, which the service refunds. No scheme but ``http(s)`` is accepted, so a task can never read
the server's file system by URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import requests

from uprez import protocol
from uprez.standin.outbound import session_for
from uprez.standin.uploads import CHUNK


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


def fetch_input(
    url: str,
    workdir: Path,
    max_bytes: int,
    own_cert: Path | None = None,
    headers: Mapping[str, str] | None = None,
) -> Path:
    """Download ``url`` into ``workdir``; raises :class:`TaskFailure` if it cannot be had. A
    server over HTTPS passes its certificate (see :func:`~uprez.standin.outbound.session_for`);
    ``headers`` go with the request (the mark of the server's own fetch, see
    :mod:`uprez.standin.link`)."""
    target = workdir / "input"
    try:
        with (
            session_for(url, own_cert) as session,
            session.get(url, headers=headers, stream=True, timeout=(10, 30)) as answer,
        ):
            if answer.status_code != 200:
                raise TaskFailure(
                    protocol.CODE_MEDIA_UNREACHABLE,
                    f"media could not be fetched: HTTP {answer.status_code}",
                )
            announced = answer.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > max_bytes:
                raise TaskFailure(
                    protocol.CODE_INVALID_PARAMETER, f"media larger than {max_bytes} bytes"
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
        target.unlink(missing_ok=True)
        raise TaskFailure(
            protocol.CODE_MEDIA_UNREACHABLE, f"media could not be fetched: {type(exc).__name__}"
        ) from exc
    return target
