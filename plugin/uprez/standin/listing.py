"""Listing recent predictions: ``POST /api/v3/predictions`` with the documented JSON body.

Body: ``{"page": 1, "page_size": 100, "model"?, "status"?, "created_after"?, "created_before"?}``
(times in ISO 8601; one without an offset is taken as UTC; both bounds are inclusive). Answer
``data``: ``{page, total, items}``, newest first, ``page_size`` capped at :data:`MAX_PAGE_SIZE`.
Items carry exactly the documented fields, never the task's ``input``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from uprez.standin.store import Prediction

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class ListingQuery:
    """One page of the listing, filtered."""

    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    model: str | None = None
    status: str | None = None
    # Bounds in integer microseconds since the epoch, compared with each task's created_at as
    # shown (to the millisecond), so a bound copied from an item's created_at includes that item.
    created_after: int | None = None
    created_before: int | None = None

    @classmethod
    def from_json(cls, body: object) -> ListingQuery:
        """The query from a request body; ``ValueError`` saying what is wrong with it."""
        if not isinstance(body, dict):
            raise ValueError('the body must be a JSON object such as {"page": 1, "page_size": 20}')
        page = _whole(body, "page", 1)
        size = _whole(body, "page_size", DEFAULT_PAGE_SIZE)
        return cls(
            page=page,
            page_size=min(size, MAX_PAGE_SIZE),
            model=_text(body, "model"),
            status=_text(body, "status"),
            created_after=_time(body, "created_after"),
            created_before=_time(body, "created_before"),
        )

    def matches(self, pred: Prediction) -> bool:
        """Whether a task passes the query's filters."""
        created = _shown_microseconds(pred.created)
        return (
            (self.model is None or pred.model == self.model)
            and (self.status is None or pred.status == self.status)
            and (self.created_after is None or created >= self.created_after)
            and (self.created_before is None or created <= self.created_before)
        )

    def answer(self, newest_first: list[Prediction]) -> dict[str, Any]:
        """The ``data`` of the answer: this page of the matching tasks and how many match."""
        chosen = [pred for pred in newest_first if self.matches(pred)]
        start = (self.page - 1) * self.page_size
        page = chosen[start : start + self.page_size]
        return {
            "page": self.page,
            "total": len(chosen),
            "items": [pred.listing_item() for pred in page],
        }


def _whole(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"'{name}' must be a whole number of at least 1, not {value!r}")
    return value


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"'{name}' must be a non-empty string, not {value!r}")
    return value


def _time(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"'{name}' must be an ISO 8601 time string, not {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"'{name}' is not an ISO 8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _shown_microseconds(created: float) -> int:
    """A task's creation time as its ``created_at`` shows it: to the millisecond."""
    moment = datetime.fromtimestamp(created, UTC)
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return (moment - _EPOCH) // _MICROSECOND
