"""Finding a task whose submit answer was lost, without sending the submit again.

The documented listing is ``POST /api/v3/predictions`` with a page, a model and a window of
creation times; its items carry no ``input``. So the tasks of this model created around the
submit are listed, matched by ``input``/``inputs`` where an item has them, and otherwise each
candidate's own result (which may carry ``input``) is fetched and matched. A listing that fails
means "not found": it must never wedge a job (``--resubmit`` stays the way out).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from uprez.errors import ServiceError
from uprez.wavespeed.answers import TaskState, parse_prediction, read_envelope
from uprez.wavespeed.reading import read_task

if TYPE_CHECKING:
    from uprez.wavespeed.connection import Connection

log = logging.getLogger(__name__)
# Clocks of this machine and the service differ: the window is widened by this much each side.
CLOCK_SLACK = 300.0
PAGE_SIZE = 100
# Results fetched at most to match candidates whose listing entry has no input.
MAX_CANDIDATES = 50


def iso(moment: float) -> str:
    """``moment`` (unix seconds) as the ISO 8601 UTC text the listing takes."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def find_task(
    connection: Connection,
    model: str,
    video_url: str,
    *,
    since: float,
    until: float,
    pages: int = 3,
    strict: bool = False,
) -> TaskState | None:
    """The newest task of ``model`` for ``video_url`` created between ``since`` and ``until``
    (unix seconds, widened by :data:`CLOCK_SLACK`), or None if none is found or the service
    cannot say. ``strict``: a service that cannot say raises its :class:`ServiceError`, so
    None means the listing answered and shows no such task."""
    try:
        return _search(
            connection, model, video_url, since - CLOCK_SLACK, until + CLOCK_SLACK, pages, strict
        )
    except ServiceError as exc:
        if strict:
            raise
        log.warning("could not list recent tasks to look for a lost submit: %s", exc)
        return None


def _search(
    connection: Connection,
    model: str,
    video_url: str,
    since: float,
    until: float,
    pages: int,
    strict: bool,
) -> TaskState | None:
    candidates: list[TaskState] = []
    for page in range(1, pages + 1):
        items = _page(connection, model, page, since, until)
        for item in items:
            try:
                state = parse_prediction(item, "recent tasks")
            except ServiceError:
                continue
            if state.raw.get("model") not in (None, model):
                continue  # a service that ignored the model filter
            given = state.input_video
            if given == video_url:
                return state
            if given is None:
                candidates.append(state)
        if len(items) < PAGE_SIZE:
            break
    for state in candidates[:MAX_CANDIDATES]:
        try:
            full = read_task(connection, state.id)
        except ServiceError as exc:
            if strict:
                raise
            log.debug("task %s unreadable while looking for a lost submit: %s", state.id, exc)
            continue
        if full.input_video == video_url:
            return full
    return None


def _page(
    connection: Connection, model: str, page: int, since: float, until: float
) -> list[object]:
    """One page of the listing: the documented POST, or the older GET where POST is absent."""
    url = connection.api_url("/predictions")
    body = {
        "page": page,
        "page_size": PAGE_SIZE,
        "model": model,
        "created_after": iso(since),
        "created_before": iso(until),
    }
    answer = connection.post_json(url, body, "recent tasks")
    if answer.status_code in (404, 405):
        answer = connection.get_url(f"{url}?page={page}&page_size={PAGE_SIZE}", "recent tasks")
    data = read_envelope(answer, "recent tasks")
    items = data.get("items") if isinstance(data, dict) else data
    return list(items) if isinstance(items, list) else []
