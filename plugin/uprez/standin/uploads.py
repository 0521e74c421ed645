"""Files handed to the server: upload tickets, their signed PUT targets, and the media they become.

A ticket's PUT must carry exactly the headers the ticket gave (``upload.headers``): its
``Content-Type`` and :data:`SIGNATURE_HEADER`, an HMAC of the token, content type and size under a
secret only this server knows, as a storage host's presigned URL would. Anything else is a 403.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import re
import secrets
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from werkzeug.datastructures import Headers

CHUNK = 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
#: The header that carries a ticket's signature on its PUT.
SIGNATURE_HEADER = "X-Uprez-Upload-Signature"
#: The kinds of media the service knows; a ticket's ``type`` is one of these (or ``file``).
KINDS = ("video", "image", "audio")


def safe_filename(name: str) -> str:
    """A file name that can be used in a URL path and on disk, whatever the client sent."""
    base = Path(name.replace("\\", "/")).name
    cleaned = _SAFE_NAME.sub("_", base).strip("._") or "upload"
    return cleaned[:120]


def content_type_for(name: str, declared: str | None = None) -> str:
    """The declared content type, else one guessed from the name."""
    if declared:
        return declared
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def media_kind(content_type: str) -> str:
    """The kind of a file (``video``, ``image``, ``audio``, else ``file``) from its content type."""
    kind = content_type.split("/", 1)[0].strip().lower()
    return kind if kind in KINDS else "file"


@dataclass
class Media:
    """An uploaded file, fetched back through its download URL."""

    id: str
    filename: str
    content_type: str
    path: Path
    size: int
    created: float
    complete: bool


@dataclass
class Ticket:
    """A promise to accept one PUT of ``size`` bytes before ``expires``."""

    token: str
    media: Media
    expires: float
    signature: str
    used: bool = False

    @property
    def headers(self) -> dict[str, str]:
        """The headers its PUT must carry, and no others that matter."""
        return {"Content-Type": self.media.content_type, SIGNATURE_HEADER: self.signature}


class UploadError(Exception):
    """An upload the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UploadStore:
    """Upload tickets and stored media, kept in one directory."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._media: dict[str, Media] = {}
        self._tickets: dict[str, Ticket] = {}
        self._secret = secrets.token_bytes(32)
        # Files ever received whole (deleted ones too): what the stats count as uploads.
        self._received = 0

    def files(self) -> list[Path]:
        """Every file received and still held, oldest first (what a client really sent)."""
        with self._lock:
            held = sorted(self._media.values(), key=lambda m: m.created)
        return [m.path for m in held if m.path.exists()]

    def _new_media(self, filename: str, content_type: str, size: int, now: float) -> Media:
        media_id = secrets.token_hex(12)
        name = safe_filename(filename)
        folder = self._root / media_id
        folder.mkdir()
        return Media(media_id, name, content_type, folder / name, size, now, complete=False)

    def open_ticket(
        self, filename: str, size: int, content_type: str, now: float, lifetime: float
    ) -> Ticket:
        """Reserve a media id and a one-time PUT token for a file of ``size`` bytes."""
        media = self._new_media(filename, content_type, size, now)
        token = secrets.token_urlsafe(24)
        signed = f"PUT\n{token}\n{content_type}\n{size}".encode()
        signature = hmac.new(self._secret, signed, hashlib.sha256).hexdigest()
        ticket = Ticket(token, media, now + lifetime, signature)
        with self._lock:
            self._media[media.id] = media
            self._tickets[ticket.token] = ticket
        return ticket

    def receive_put(
        self,
        token: str,
        stream: IO[bytes],
        length: int | None,
        headers: Headers,
        now: float,
        max_bytes: int,
    ) -> Media:
        """Store the body of a PUT to a ticket's URL, streamed to disk.

        Refused: an unknown token (404), a used one (409), an expired one or one whose signed
        headers are missing or differ (403; the ticket stays usable), a body over ``max_bytes``
        (413) or of another length than declared (400).
        """
        with self._lock:
            ticket = self._tickets.get(token)
            if ticket is None:
                raise UploadError(404, "no such upload")
            if ticket.used:
                raise UploadError(409, "this upload URL was already used")
            if now > ticket.expires:
                raise UploadError(403, "this upload URL has expired")
            for name, value in ticket.headers.items():
                sent = headers.get(name)
                if sent is None or not hmac.compare_digest(sent.encode(), value.encode()):
                    raise UploadError(403, f"the signed header {name} is missing or differs")
            ticket.used = True
        media = ticket.media
        if length is not None and length > max_bytes:
            self._forget(token)
            raise UploadError(413, f"file too large: the limit is {max_bytes} bytes")
        if length is not None and length != media.size:
            self._forget(token)
            raise UploadError(
                400, f"Content-Length {length} differs from the declared size {media.size}"
            )
        written = _copy_limited(stream, media.path, media.size)
        if written == media.size and length is None and stream.read(1):
            written += 1  # a chunked body longer than declared
        if written != media.size:
            media.path.unlink(missing_ok=True)
            self._forget(token)
            if written > max_bytes:
                raise UploadError(413, f"file too large: the limit is {max_bytes} bytes")
            raise UploadError(400, f"received {written} bytes, expected {media.size}")
        with self._lock:
            media.complete = True
            self._received += 1
        return media

    def store_stream(
        self, filename: str, content_type: str, stream: IO[bytes], limit: int, now: float
    ) -> Media:
        """Store a file sent in one request (the multipart flows)."""
        media = self._new_media(filename, content_type, 0, now)
        written = _copy_limited(stream, media.path, limit + 1)
        if written > limit:
            shutil.rmtree(media.path.parent, ignore_errors=True)
            raise UploadError(413, f"file too large: over {limit} bytes")
        media.size = written
        media.complete = True
        with self._lock:
            self._media[media.id] = media
            self._received += 1
        return media

    def get(self, media_id: str) -> Media | None:
        """Stored, complete media by id."""
        with self._lock:
            media = self._media.get(media_id)
        return media if media is not None and media.complete else None

    def count(self) -> int:
        """How many files were fully uploaded (deleted ones included)."""
        with self._lock:
            return self._received

    def discard(self, media_id: str) -> bool:
        """Delete a stored file, and any ticket for it: its URLs answer 404 from now on.
        False if there was no such file."""
        with self._lock:
            media = self._media.pop(media_id, None)
            for token in [t for t, ticket in self._tickets.items() if ticket.media.id == media_id]:
                del self._tickets[token]
        if media is None:
            return False
        shutil.rmtree(media.path.parent, ignore_errors=True)
        return True

    def _forget(self, token: str) -> None:
        with self._lock:
            ticket = self._tickets.pop(token, None)
            if ticket is not None:
                self._media.pop(ticket.media.id, None)


def _copy_limited(stream: IO[bytes], path: Path, limit: int) -> int:
    """Copy at most ``limit`` bytes of ``stream`` into ``path``; return how many were read."""
    written = 0
    with path.open("wb") as out:
        while written < limit:
            chunk = stream.read(min(CHUNK, limit - written))
            if not chunk:
                break
            out.write(chunk)
            written += len(chunk)
    return written
