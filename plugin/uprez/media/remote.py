"""Sources the service reads by URL: a video at an http(s) address is submitted as that address.

Nothing of such a source is uploaded, and little of it is downloaded: FFmpeg reads what it needs
to tell the video's length, frame rate and size (its headers and one frame, by ``Range``
requests where the server takes them), so the estimate and the service's limits are checked
before anything is spent. A URL's query string often holds a signature (presigned object-storage
URLs): it is used to fetch, and never shown, logged or written down.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import unquote, urlsplit

import requests

from uprez.errors import InputError
from uprez.media.image_sequence import ImageSequence
from uprez.net.redact import redact_url
from uprez.net.transfers import download
from uprez.net.urls import parse_strict

if TYPE_CHECKING:
    from uprez.media.probe import Probe

__all__ = ["RemoteVideo", "Source", "as_source", "describe"]

# What a user means as an address rather than a file name: "scheme://...".
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")

#: (connect, read) seconds for reading a URL source when the caller gives none.
DEFAULT_TIMEOUT = (10.0, 60.0)


class RemoteVideo:
    """A video the service reads from an http(s) URL; it stands where a local path would.

    ``str()`` is the URL without its query string (what messages, logs, the journal and
    sidecars show); ``name``, ``stem`` and ``suffix`` are those of the URL's last path segment.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._probe: Probe | None = None

    def __str__(self) -> str:
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"RemoteVideo({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemoteVideo) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    @property
    def name(self) -> str:
        """The file name the URL's path ends in (``video`` when it ends in none)."""
        last = unquote(urlsplit(self.url).path).replace("\\", "/").rpartition("/")[2]
        return last if last.strip(".") else "video"

    @property
    def stem(self) -> str:
        """:attr:`name` without its extension."""
        return PurePosixPath(self.name).stem

    @property
    def suffix(self) -> str:
        """:attr:`name`'s extension (``.mp4``), or an empty string."""
        return PurePosixPath(self.name).suffix

    def check(self) -> None:
        """Refuse (:class:`InputError`) anything but a plain http(s) URL with a host, and URLs
        that two parsers could read as different hosts (``user@host``, backslashes)."""
        try:
            parse_strict(self.url, str(self))
        except ValueError as exc:
            raise InputError(f"{exc}: refused", path=str(self)) from None

    def probe(self, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> Probe:
        """What FFmpeg tells of the video over HTTP (read once, then remembered)."""
        if self._probe is None:
            from uprez.media.probe import probe_url  # keeps PyAV off the import path

            self.check()
            self._probe = probe_url(self.url, timeout=timeout)
        return self._probe

    def content_key(self) -> str:
        """What identifies this source's content for the journal and the work folder: a hash of
        the URL without its query string, with the probed size, length and frame count.

        Not the whole URL: a presigned URL is signed anew for each request, and the same object
        behind a fresh signature is the same work (a rerun must resume it, never pay again).
        Not the bytes: hashing them would mean downloading the video. The size and length tell
        apart most new content stored under the same address (an export written again)."""
        info = self.probe()
        parts = urlsplit(self.url)
        where = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"
        text = json.dumps([where, info.size_bytes, round(info.duration, 3), info.frames])
        return hashlib.sha256(text.encode()).hexdigest()

    def fetch(self, target: Path, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> Path:
        """Download the video to ``target`` (atomically) and return it. Only done when the
        service's result lost the sound that must be copied back from the source."""
        with requests.Session() as session:
            download(session, self.url, target, timeout=timeout)
        return target


#: What the upscale step takes: a local file, or a video the service reads by URL.
Source: TypeAlias = Path | RemoteVideo | ImageSequence


def as_source(value: str | os.PathLike[str] | RemoteVideo | ImageSequence) -> Source:
    """``value`` as a source: text that reads ``scheme://...`` is a :class:`RemoteVideo`
    (checked later, with the other inputs, so ``ftp://`` is refused as an input, not here);
    anything else is a local path."""
    if isinstance(value, RemoteVideo | Path | ImageSequence):
        return value
    text = os.fspath(value)
    return RemoteVideo(text) if _URL.match(text) else Path(text)


def describe(source: Source) -> Probe:
    """What FFmpeg tells of ``source``: a file read from disk, a URL over HTTP."""
    if isinstance(source, RemoteVideo):
        return source.probe()
    if isinstance(source, ImageSequence):
        from uprez.media.sequence_probe import probe_sequence  # keeps PyAV off the import path

        return probe_sequence(source)
    from uprez.media.probe import probe  # keeps PyAV off the import path

    return probe(source)
