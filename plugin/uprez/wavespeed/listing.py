"""The account's tasks created in a window, as the service lists them, every page of them.

The documented call is ``POST /api/v3/predictions`` with ``{"page", "page_size", "model"?,
"created_after", "created_before"}`` (ISO 8601 UTC, both bounds inclusive), answering
``data: {page, total, items}``, newest first. Unlike :mod:`~uprez.wavespeed.lookup`, which
treats a failed listing as "not found" so that a job is never wedged, a failure here raises: a
spend reconciliation that silently saw nothing would report every ledger task as missing and no
stranger as unknown. So does a listing longer than ``max_pages`` pages, and an item without an
id. Only the documented POST is asked (lookup's fallback to a bare GET cannot filter by time,
so it would list tasks from outside the window).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from uprez.errors import ServiceError
from uprez.protocol import CREATED
from uprez.wavespeed.answers import read_envelope
from uprez.wavespeed.lookup import iso

if TYPE_CHECKING:
    from uprez.wavespeed.connection import Connection

log = logging.getLogger(__name__)
WHAT = "listing tasks"
#: The most the service returns in one page.
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class ListedTask:
    """A task as the listing shows it; ``created_at`` is the service's text, as given."""

    id: str
    model: str
    status: str
    created_at: str


@dataclass(frozen=True)
class _Page:
    items: list[object]
    total: int | None


def list_tasks(
    connection: Connection,
    model: str | None,
    since: float,
    until: float,
    page_size: int = MAX_PAGE_SIZE,
    max_pages: int = 50,
) -> list[ListedTask]:
    """Every task of the account (of ``model`` only, unless None) created between ``since``
    and ``until`` (unix seconds; whole seconds, widened outwards), newest first.

    Raises :class:`~uprez.errors.ServiceError` when a page cannot be had, an item has no id,
    or the window holds more than ``max_pages`` pages of tasks (narrow it).
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE or max_pages < 1:
        raise ValueError(
            f"page_size must be 1..{MAX_PAGE_SIZE} and max_pages at least 1, "
            f"not {page_size} and {max_pages}"
        )
    first, last = math.floor(since), math.ceil(until)
    found: dict[str, ListedTask] = {}
    for number in range(1, max_pages + 1):
        page = _page(connection, model, number, page_size, first, last)
        # Ids already seen are dropped: a task created while paging shifts the rest down a place.
        for task in map(_listed, page.items):
            if _within(task, model, first, last):
                found.setdefault(task.id, task)
        seen = (number - 1) * page_size + len(page.items)
        finished = seen >= page.total if page.total is not None else len(page.items) < page_size
        if not page.items or finished:
            log.debug("%s: %d task(s) in %d page(s)", WHAT, len(found), number)
            return list(found.values())
    raise ServiceError(
        f"{WHAT}: more than {max_pages} pages of {page_size} tasks since {iso(first)}; "
        "ask for a shorter window"
    )


def _page(
    connection: Connection, model: str | None, number: int, size: int, first: int, last: int
) -> _Page:
    """One page of the documented listing (lookup's ``_page`` has a fixed size, always names
    a model and falls back to a GET: none of which suits a whole account's listing)."""
    body: dict[str, Any] = {
        "page": number,
        "page_size": size,
        "created_after": iso(first),
        "created_before": iso(last),
    }
    if model is not None:
        body["model"] = model
    data = read_envelope(connection.post_json(connection.api_url("/predictions"), body, WHAT), WHAT)
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ServiceError(f"{WHAT}: page {number} of the answer has no list of items")
    total = data.get("total")
    counted = isinstance(total, int) and not isinstance(total, bool)
    return _Page(items, total if counted else None)


def _listed(item: object) -> ListedTask:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        raise ServiceError(f"{WHAT}: an item of the listing has no id: {str(item)[:200]}")
    model, status, created = item.get("model"), item.get("status"), item.get("created_at")
    return ListedTask(
        id=item["id"],
        model=model if isinstance(model, str) else "",
        status=status.lower() if isinstance(status, str) else CREATED,
        created_at=created if isinstance(created, str) else "",
    )


def _within(task: ListedTask, model: str | None, first: int, last: int) -> bool:
    """False for a task the service should not have listed (it ignored a filter)."""
    if model is not None and task.model not in ("", model):
        return False
    try:
        moment = datetime.fromisoformat(task.created_at)
    except ValueError:
        return True  # no time to judge by: the service's filter stands
    if moment.tzinfo is None:  # the service's times are UTC
        moment = moment.replace(tzinfo=UTC)
    return first <= moment.timestamp() <= last
