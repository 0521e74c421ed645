"""The studio's link to the service, as the local server plays it: bandwidth and latency.

A studio's uploads share its uplink and its downloads share its downlink, whatever the number of
connections, and every request waits a round trip before its answer starts. With
``bandwidth_up``, ``bandwidth_down`` or ``latency`` set, the server plays such a link, so a
benchmark of time-to-4K moves its bytes as slowly as the studio's real line would:

- uplink: the bodies the client sends to the storage host (a ticket's PUT) and to the API's
  multipart upload routes, all connections paying into one
  :class:`~uprez.standin.bucket.TokenBucket`;
- downlink: the bodies the client fetches from the storage host (``download_url``) and the CDN
  (outputs), all connections paying into another;
- latency: every request on every port is answered that much later, once, before the answer.

A face says which of its endpoints' bodies go up the link (``uplink``) and whether its answers
come down it (``downlink``). The model's own fetch of an input from the storage host is not the
studio's traffic — the real service fetches on its own network — so it is marked with a header
only this server knows (:meth:`Link.own_fetch_headers`) and passes unshaped and undelayed.
"""

from __future__ import annotations

import hmac
import io
import secrets
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

from werkzeug.exceptions import HTTPException

from uprez.standin.bucket import CHUNK, TokenBucket
from uprez.standin.face import Face
from uprez.standin.settings import ServerSettings

#: The header that marks the server's own fetch of an input from its storage host.
OWN_FETCH_HEADER = "X-Uprez-Own-Fetch"
_OWN_FETCH_ENVIRON = "HTTP_" + OWN_FETCH_HEADER.upper().replace("-", "_")


class Link:
    """One studio's line to the service: an uplink and a downlink bucket (None: unlimited) and
    a latency in seconds, shared by every port of one server."""

    def __init__(self, settings: ServerSettings) -> None:
        self.up = TokenBucket(settings.bandwidth_up) if settings.bandwidth_up else None
        self.down = TokenBucket(settings.bandwidth_down) if settings.bandwidth_down else None
        self.latency = settings.latency
        self._own_token = secrets.token_urlsafe(24)

    @property
    def shaped(self) -> bool:
        """Whether the link slows anything down at all."""
        return self.up is not None or self.down is not None or self.latency > 0

    def own_fetch_headers(self) -> dict[str, str]:
        """The headers that mark a request as the server's own fetch (sent to its own storage
        host only: the token is this server's)."""
        return {OWN_FETCH_HEADER: self._own_token}

    def is_own_fetch(self, environ: dict[str, Any]) -> bool:
        """Whether a request carries the mark of the server's own fetch."""
        sent = environ.get(_OWN_FETCH_ENVIRON)
        return isinstance(sent, str) and hmac.compare_digest(sent, self._own_token)


class ShapedFace:
    """A face's WSGI application behind the link: its requests wait the latency, the bodies of
    its ``uplink`` endpoints are read at the uplink's rate, and, for a ``downlink`` face, the
    bodies of its answers are sent at the downlink's rate."""

    def __init__(self, face: Face, link: Link) -> None:
        self.face = face
        self.link = link

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        link = self.link
        if not link.shaped or link.is_own_fetch(environ):
            return self.face(environ, start_response)
        if link.latency > 0:
            time.sleep(link.latency)
        if link.up is not None and self._endpoint(environ) in self.face.uplink:
            environ["wsgi.input"] = ShapedInput(environ["wsgi.input"], link.up)
        body = self.face(environ, start_response)
        if link.down is not None and self.face.downlink:
            return ShapedBody(body, link.down)
        return body

    def _endpoint(self, environ: dict[str, Any]) -> str | None:
        try:
            endpoint, _ = self.face.rules.bind_to_environ(environ).match()
        except HTTPException:
            return None
        return str(endpoint)


class ShapedInput(io.RawIOBase):
    """A request body read no faster than its bucket allows, a chunk at a time."""

    def __init__(self, raw: IO[bytes], bucket: TokenBucket) -> None:
        super().__init__()
        self._raw = raw
        self._bucket = bucket

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(min(len(buffer), CHUNK))
        if not data:
            return 0
        self._bucket.take(len(data))
        buffer[: len(data)] = data
        return len(data)


class ShapedBody:
    """An answer's body sent no faster than its bucket allows, in chunks of at most
    :data:`~uprez.standin.bucket.CHUNK`; closing it closes the body it wraps (a WSGI server
    closes what it was given, iterated or not)."""

    def __init__(self, body: Iterable[bytes], bucket: TokenBucket) -> None:
        self._body = body
        self._bucket = bucket

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            for start in range(0, len(chunk), CHUNK):
                piece = chunk[start : start + CHUNK]
                self._bucket.take(len(piece))
                yield piece

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()
