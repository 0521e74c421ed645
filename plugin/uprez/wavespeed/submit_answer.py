"""Sending a submit once, and reading what came back.

The submit POST has no idempotency key, so how its answer is read decides whether a paid task
can be lost or paid twice: any answer with a ``data.id`` is a task (official clients need no
more); a 4xx, or HTTP 200 with an error envelope and no id, is a refusal (no task exists); a
5xx, a lost connection after the request left, or an HTTP 200 that cannot be read is ambiguous.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError, ProxyError

from uprez.errors import AmbiguousSubmit, ServiceError
from uprez.wavespeed.answers import TaskState, envelope_data, parse_prediction, read_envelope

if TYPE_CHECKING:
    from uprez.wavespeed.connection import Connection

log = logging.getLogger(__name__)


def post_submit(connection: Connection, model: str, inputs: dict[str, Any]) -> TaskState:
    """Send the submit POST once and read what came back: a task (any answer with a
    ``data.id``), a refusal (:class:`ServiceError`: no task exists), or
    :class:`AmbiguousSubmit` when a task may exist unseen."""
    url = connection.api_url("/" + model.strip("/"))
    ambiguous = "the task may have been created, so it was not sent again"
    try:
        answer = connection.session.post(
            url, json=inputs, headers=connection.api_headers(url), timeout=connection.timeout
        )
    except requests.ConnectTimeout as exc:
        raise ServiceError(f"submit: could not connect to {connection.api_host}") from exc
    except requests.ConnectionError as exc:
        if _never_connected(exc):
            raise ServiceError(
                f"submit: could not connect to {connection.api_host}; nothing was sent"
            ) from exc
        raise AmbiguousSubmit(f"submit: no answer ({type(exc).__name__}); {ambiguous}") from exc
    except requests.RequestException as exc:
        raise AmbiguousSubmit(f"submit: no answer ({type(exc).__name__}); {ambiguous}") from exc
    if answer.status_code >= 500:
        raise AmbiguousSubmit(
            f"submit: HTTP {answer.status_code}; {ambiguous}", status=answer.status_code
        )
    data = envelope_data(answer)
    if answer.status_code < 300 and isinstance(data, dict) and data.get("id"):
        # Official clients need nothing more than an id: the task exists.
        state = parse_prediction(data, "submit")
        log.info("task %s submitted (%s)", state.id, model)
        return state
    try:
        read_envelope(answer, "submit")
    except ServiceError as exc:
        if exc.status == 200 and exc.code is None:
            # HTTP 200 and no readable envelope: it may carry a task we cannot see.
            raise AmbiguousSubmit(f"{exc}; {ambiguous}", status=200) from exc
        raise  # a refusal: 4xx, or an error envelope without an id; no task exists
    raise AmbiguousSubmit(f"submit: the answer holds no task id; {ambiguous}", status=200)


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when the connection itself failed (refused, no route, name not found, or a proxy
    that could not be reached or would not open the tunnel): the POST never left this machine,
    so no task can exist. urllib3 reports a proxy's failure as ``ProxyError`` only until the
    tunnel is open; a connection that drops later is ambiguous."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | NameResolutionError | ProxyError)
