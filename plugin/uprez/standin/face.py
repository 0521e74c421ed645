"""What every port of the local server shares: routing to ``on_<endpoint>`` methods, injected
faults, envelopes for every error, and log lines that never show a one-time upload token."""

from __future__ import annotations

import logging
import re
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from uprez.standin.bodies import BadBody
from uprez.standin.envelopes import failure
from uprez.standin.faults import FaultPlan
from uprez.standin.misbehaving import drop, inject

log = logging.getLogger(__name__)
REQUEST_FAULTS = frozenset({"http", "envelope", "drop", "delay", "garbage", "drop_after"})
_UPLOAD_TOKEN = re.compile(r"(/put/)[^/?#\s'\"\\]+")


def redact(text: str) -> str:
    """``text`` with every upload token (``/put/<token>``) hidden: a token is a capability."""
    return _UPLOAD_TOKEN.sub(r"\1<token>", text)


class BoundedRequest(Request):
    """A request whose multipart form keeps little in memory and has few parts."""

    max_form_memory_size = 500_000
    max_form_parts = 64


class Face:
    """One port of the service: ``rules`` name endpoints, each answered by ``on_<endpoint>``.

    ``uplink`` names the endpoints whose request bodies are the studio's uploads and
    ``downlink`` says whether the port's answers are its downloads: the bodies a shaped link
    slows down (see :mod:`uprez.standin.link`).
    """

    rules: Map
    uplink: frozenset[str] = frozenset()
    downlink: bool = False

    def __init__(self, faults: FaultPlan) -> None:
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = BoundedRequest(environ)
        try:
            response = self.dispatch(request)
        except BadBody as exc:
            response = failure(400, str(exc))
        except HTTPException as exc:
            response = failure(exc.code or 500, exc.description or exc.name)
            # Keep what the exception says beyond its body: Allow on 405, Content-Range on 416.
            for name, value in exc.get_headers(request.environ):
                if name.lower() not in ("content-type", "content-length"):
                    response.headers[name] = value
        except Exception:
            log.exception("unexpected error on %s %s", request.method, redact(request.path))
            response = failure(500, "internal server error")
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        """Match the request to an endpoint and answer it."""
        endpoint, args = self.rules.bind_to_environ(request.environ).match()
        return self.handle(str(endpoint), request, dict(args))

    def handle(self, name: str, request: Request, args: dict[str, Any]) -> Response:
        """Answer ``name``, unless a pending fault says to misbehave instead."""
        fault = self.faults.take(name, REQUEST_FAULTS)
        if fault is not None and fault.kind == "drop_after":
            # Do the work, then lose the answer: the client cannot know it happened.
            getattr(self, "on_" + name)(request, **args)
            return drop(request)
        if fault is not None:
            injected = inject(request, fault)
            if injected is not None:
                return injected
        return getattr(self, "on_" + name)(request, **args)  # type: ignore[no-any-return]
