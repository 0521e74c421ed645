"""How the local server misbehaves on purpose: the answers and broken bodies of injected faults."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response

from uprez.standin.envelopes import envelope
from uprez.standin.faults import Fault

log = logging.getLogger(__name__)


def drop(request: Request) -> Response:
    """Close the connection under the request: the client gets no answer at all."""
    connection = request.environ.get("werkzeug.socket")
    if connection is not None:
        connection.shutdown(socket.SHUT_RDWR)
    return Response(status=500)


def inject(request: Request, fault: Fault) -> Response | None:
    """The answer a request-level fault gives instead of the real one (None: answer normally)."""
    log.debug("injecting %s on %s", fault.kind, fault.route)
    if fault.kind == "delay":
        time.sleep(fault.delay)
        return None
    if fault.kind == "drop":
        return drop(request)
    if fault.kind == "garbage":
        return Response('{"code": 200, "data": {"id": ', status=200, mimetype="application/json")
    if fault.kind == "envelope":
        return envelope(None, status=200, code=fault.code or 500, message="injected fault")
    answer = envelope(
        None, status=fault.status, code=fault.code or fault.status, message="injected fault"
    )
    if fault.retry_after is not None:
        answer.headers["Retry-After"] = fault.retry_after
    return answer


def send(request: Request, path: Path, mimetype: str, fault: Fault | None = None) -> Response:
    """A file with ``Range``, ``ETag`` and ``Content-Length`` — or misbehaving as ``fault`` says."""
    environ = request.environ
    if fault is not None and fault.kind == "no_range":
        environ = {k: v for k, v in environ.items() if k != "HTTP_RANGE"}
    response = send_file(path, environ, mimetype=mimetype, conditional=True, etag=True)
    response.headers["Accept-Ranges"] = "bytes"
    # The HTTP server adds its own Date; a second one confuses strict clients.
    del response.headers["Date"]
    if fault is not None and fault.kind in ("cut", "bad_length"):
        length = response.content_length or 0
        if fault.kind == "bad_length":
            response.headers["Content-Length"] = str(length + 1000)
        else:
            response.response = _cut_after(response.response, length // 2)
    return response


def _cut_after(body: Any, limit: int) -> Iterator[bytes]:
    """The body's first ``limit`` bytes, then a broken connection (an injected fault)."""
    sent = 0
    for chunk in body:
        if sent + len(chunk) >= limit:
            yield chunk[: limit - sent]
            raise ConnectionAbortedError("injected fault: body cut")
        sent += len(chunk)
        yield chunk
