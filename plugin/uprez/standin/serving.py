"""The HTTP servers under the local server's ports, hardened against a client that misbehaves.

Each port serves at most ``max_connections`` connections at once (more are answered 503 and
closed at once, without a thread); a connection that sends nothing for ``socket_timeout`` seconds
is closed; request lines go to the ``uprez.standin`` logger at DEBUG with upload tokens hidden.
Over HTTPS, each connection's TLS handshake happens in its own thread, so a client that stalls
or breaks off mid-handshake holds up no one else.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from uprez.standin.face import redact
from uprez.standin.settings import ServerSettings

log = logging.getLogger(__name__)

_BUSY_BODY = json.dumps({"code": 503, "message": "too many connections", "data": None}).encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\nConnection: close\r\n\r\n"
) + _BUSY_BODY


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the ``uprez.standin`` logger at DEBUG, not to stderr, tokens hidden."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", None)
        if path is None:  # a request line that could not be parsed
            log.debug("%r -> %s", redact(getattr(self, "requestline", "")), code)
            return
        log.debug("%s %s -> %s", self.command, redact(path.split("?", 1)[0]), code)

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("http: %s", redact(format % args))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: %s", redact(format % args))


class BoundedServer(ThreadedWSGIServer):
    """A threaded WSGI server with a bounded number of connections served at once; over HTTPS
    when given a ``tls`` context."""

    def __init__(
        self,
        *args: Any,
        max_connections: int,
        tls: ssl.SSLContext | None = None,
        handshake_timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self._handshake_timeout = handshake_timeout
        super().__init__(*args, **kwargs)
        # Not given to werkzeug, which would shake hands in the accepting thread; it reads this
        # attribute to tell the application its scheme (https), and the handshake is done per
        # connection in process_request_thread.
        self.ssl_context = tls

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._turn_away(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            if self.ssl_context is not None:
                request = self._handshake(request, self.ssl_context)
                if request is None:
                    return
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _handshake(self, request: socket.socket, tls: ssl.SSLContext) -> ssl.SSLSocket | None:
        """The connection over TLS; None (and closed) if the handshake fails."""
        try:
            request.settimeout(self._handshake_timeout)
            return tls.wrap_socket(request, server_side=True)
        except (OSError, ValueError) as exc:
            log.debug("TLS handshake failed: %s", exc)
            self.shutdown_request(request)
            return None

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error", exc_info=True)

    def _turn_away(self, request: socket.socket) -> None:
        """Answer 503 and close, from the accepting thread, without waiting on the client (over
        TLS, close only: an answer needs a handshake, which could make it wait)."""
        log.warning("too many connections: one was turned away")
        if self.ssl_context is not None:
            self.shutdown_request(request)
            return
        try:
            # Briefly: the accepting thread must not be held by a client that sends nothing.
            request.settimeout(0.05)
            request.sendall(_BUSY)
            request.shutdown(socket.SHUT_WR)
            request.recv(65536)  # let the client's request land, so closing does not reset it
        except OSError:
            pass
        self.shutdown_request(request)


def bind(
    host: str,
    port: int,
    app: Any,
    settings: ServerSettings,
    tls: ssl.SSLContext | None = None,
) -> BoundedServer:
    """A server for ``app`` listening on ``host:port`` (0: a free port), over HTTPS with
    ``tls``; OSError if it cannot listen."""
    handler = type("Handler", (_QuietHandler,), {"timeout": settings.socket_timeout})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Bind here, not in werkzeug: it answers a busy port with sys.exit().
    with socket.create_server((host, port), family=family) as sock:
        return BoundedServer(
            host,
            port,
            app,
            handler=handler,
            fd=sock.fileno(),
            max_connections=settings.max_connections,
            tls=tls,
            handshake_timeout=settings.socket_timeout,
        )
