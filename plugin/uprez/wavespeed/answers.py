"""Reading the service's answers: the HTTP status, the envelope code, and the prediction inside.

The documented service is loose in places, so every documented form is accepted: a prediction
with no ``status`` (just created), ``outputs`` as URLs or as ``{"url": ...}`` objects,
``timings.inference`` as any number, an ``error_code`` beside the ``message``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from uprez import protocol
from uprez.errors import AuthError, RateLimited, ServiceError
from uprez.net.retry import parse_retry_after

_MAX_MESSAGE = 300


def _message(body: object, response: requests.Response) -> str:
    """The body's ``message`` (with its ``error_code``, when the service gives one)."""
    text = ""
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            text = body["message"]
        elif isinstance(body.get("error"), str):
            text = body["error"]
        error_code = body.get("error_code")
        if isinstance(error_code, str | int) and not isinstance(error_code, bool):
            text = f"{text} [error_code {error_code}]".strip()
    return (text or response.reason or "")[:_MAX_MESSAGE]


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON, or nested beyond reason
        return None


def read_envelope(response: requests.Response, what: str, task_id: str | None = None) -> Any:
    """The ``data`` of a successful answer; a typed error for every other kind of answer.

    Both the HTTP status and the envelope's ``code`` must say success: the service can answer
    HTTP 200 with ``{"code": 500, ...}``.
    """
    status = response.status_code
    body = _json(response)
    message = _message(body, response)
    if status == 401:
        raise AuthError(
            f"{what}: HTTP 401 {message} (check WAVESPEED_API_KEY)".rstrip(),
            status=status,
            task_id=task_id,
        )
    if status == 403:
        raise AuthError(
            f"{what}: HTTP 403 {message} (the service refused this key: check that it is "
            "the right one and the account's state on the WaveSpeed dashboard)",
            status=status,
            task_id=task_id,
        )
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


def envelope_data(response: requests.Response) -> object:
    """The ``data`` of an answer whatever its envelope code says (None if there is none).

    A submit is judged by its ``data.id`` alone, as every official client does."""
    body = _json(response)
    return body.get("data") if isinstance(body, dict) else None


@dataclass(frozen=True)
class TaskState:
    """A prediction as the client understands it."""

    id: str
    status: str
    outputs: tuple[str, ...] = ()
    error: str = ""
    code: int | None = None
    inference_ms: int | None = None
    nsfw: tuple[bool, ...] = ()
    created_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """True once the status is terminal; an unknown status counts as still running."""
        return self.status in protocol.TERMINAL_STATUSES

    @property
    def input_video(self) -> str | None:
        """The ``video`` this task was asked for, when the answer says (``input`` or ``inputs``)."""
        for key in ("input", "inputs"):
            given = self.raw.get(key)
            if isinstance(given, dict) and isinstance(given.get("video"), str):
                return str(given["video"])
        return None


def _output_url(item: object) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("url"), str):
        return str(item["url"])
    return None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def parse_prediction(data: object, what: str, task_id: str | None = None) -> TaskState:
    """A :class:`TaskState` from an answer's ``data``, or a :class:`ServiceError` if malformed.

    Only a non-empty ``id`` is required; a missing ``status`` means the task was just created.
    """
    if not isinstance(data, dict):
        raise ServiceError(f"{what}: the answer has no prediction object", task_id=task_id)
    ident = data.get("id", task_id)
    if not isinstance(ident, str) or not ident:
        raise ServiceError(f"{what}: the prediction lacks an id", task_id=task_id)
    status = data.get("status")
    if status is None:
        status = protocol.CREATED
    if not isinstance(status, str):
        raise ServiceError(f"{what}: the prediction's status is not a string", task_id=ident)
    given = data.get("outputs") or []
    outputs = [_output_url(item) for item in given] if isinstance(given, list) else [None]
    if None in outputs:
        raise ServiceError(f"{what}: 'outputs' is not a list of URLs", task_id=ident)
    timings = data.get("timings")
    inference = _number(timings.get("inference")) if isinstance(timings, dict) else None
    flags = data.get("has_nsfw_contents")
    nsfw = tuple(bool(f) for f in flags) if isinstance(flags, list) else ()
    code = data.get("code")
    error = data.get("error")
    created = data.get("created_at")
    return TaskState(
        id=ident,
        status=status.lower(),
        outputs=tuple(str(o) for o in outputs),
        error=error if isinstance(error, str) else "",
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        inference_ms=round(inference) if inference is not None else None,
        nsfw=nsfw,
        created_at=created if isinstance(created, str) else None,
        raw=data,
    )
