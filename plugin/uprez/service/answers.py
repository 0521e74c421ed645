"""Reading the service's answers: the HTTP status, the envelope code, and the prediction inside."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from uprez import protocol
from uprez.errors import AuthError, RateLimited, ServiceError
from uprez.service.retry import parse_retry_after

_MAX_MESSAGE = 300


def _message(body: object, response: requests.Response) -> str:
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text: str = body["message"]
    else:
        text = response.reason or ""
    return text[:_MAX_MESSAGE]


def read_envelope(response: requests.Response, what: str, task_id: str | None = None) -> Any:
    """The ``data`` of a successful answer; a typed error for every other kind of answer.

    Both the HTTP status and the envelope's ``code`` must say success: the service can answer
    HTTP 200 with ``{"code": 500, ...}``.
    """
    status = response.status_code
    try:
        body = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested beyond reason
        body = None
    message = _message(body, response)
    if status in (401, 403):
        hint = "check WAVESPEED_API_KEY" if status == 401 else "the account may be suspended"
        raise AuthError(f"{what}: HTTP {status} {message} ({hint})", status=status, task_id=task_id)
    if status == 429:
        wait = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimited(
            f"{what}: rate limited (HTTP 429) {message}".rstrip(), retry_after=wait, task_id=task_id
        )
    if status >= 400:
        code = body.get("code") if isinstance(body, dict) else None
        raise ServiceError(
            f"{what}: HTTP {status} {message}".rstrip(),
            status=status,
            code=code if isinstance(code, int) else None,
            task_id=task_id,
        )
    if not isinstance(body, dict):
        raise ServiceError(
            f"{what}: the answer is not a JSON envelope", status=status, task_id=task_id
        )
    code = body.get("code", 200)
    if code not in (200, 0):
        raise ServiceError(
            f"{what}: envelope code {code} {message}".rstrip(),
            status=status,
            code=code if isinstance(code, int) else None,
            task_id=task_id,
        )
    return body.get("data")


@dataclass(frozen=True)
class TaskState:
    """A prediction as the client understands it."""

    id: str
    status: str
    outputs: tuple[str, ...] = ()
    error: str = ""
    code: int | None = None
    inference_ms: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """True once the status is terminal; an unknown status counts as still running."""
        return self.status in protocol.TERMINAL_STATUSES


def parse_prediction(data: object, what: str, task_id: str | None = None) -> TaskState:
    """A :class:`TaskState` from an answer's ``data``, or a :class:`ServiceError` if malformed."""
    if not isinstance(data, dict):
        raise ServiceError(f"{what}: the answer has no prediction object", task_id=task_id)
    ident = data.get("id", task_id)
    status = data.get("status")
    if not isinstance(ident, str) or not ident or not isinstance(status, str):
        raise ServiceError(f"{what}: the prediction lacks an id or a status", task_id=task_id)
    outputs = data.get("outputs") or []
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise ServiceError(f"{what}: 'outputs' is not a list of URLs", task_id=ident)
    timings = data.get("timings")
    inference = timings.get("inference") if isinstance(timings, dict) else None
    code = data.get("code")
    error = data.get("error")
    return TaskState(
        id=ident,
        status=status.lower(),
        outputs=tuple(outputs),
        error=error if isinstance(error, str) else "",
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        inference_ms=inference if isinstance(inference, int) else None,
        raw=data,
    )
