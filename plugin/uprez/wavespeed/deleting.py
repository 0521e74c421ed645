"""Deleting tasks on the service: ``POST /api/v3/predictions/delete`` with ``{"ids": [...]}``.

The provider's page documents ``data.deleted_count``, and that only the account's own tasks
can be deleted. The service deletes a task's record, its input and its output; it keeps them
7 days otherwise. Deleting is idempotent (a task deleted twice is as gone as once), so the call
is retried like a read. A task the service no longer knows is as deleted as uprez wants it: an
answer of 404 (HTTP or envelope) means "already gone", and a count below the ids sent means the
others were gone already (deleted by another node, or past retention).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from uprez.errors import ServiceError
from uprez.wavespeed.answers import read_envelope

if TYPE_CHECKING:
    from uprez.wavespeed.connection import Connection

log = logging.getLogger(__name__)
#: Ids sent in one call (the service documents no limit; its listing pages hold 100).
BATCH = 100


def delete_tasks(connection: Connection, task_ids: Sequence[str]) -> int:
    """Delete ``task_ids`` on the service; return how many it says it deleted. Raises
    :class:`~uprez.errors.ServiceError` when the service could not be told (nothing is then
    known to be deleted: asking again is safe)."""
    ids = list(dict.fromkeys(task_ids))
    deleted = 0
    for start in range(0, len(ids), BATCH):
        deleted += _delete_batch(connection, ids[start : start + BATCH])
    return deleted


def _delete_batch(connection: Connection, ids: list[str]) -> int:
    what = f"delete task(s) {', '.join(ids)}"
    answer = connection.post_json(connection.api_url("/predictions/delete"), {"ids": ids}, what)
    try:
        data = read_envelope(answer, what)
    except ServiceError as exc:
        if exc.status == 404 or exc.code == 404:
            log.debug("%s: the service knows none of them (already deleted)", what)
            return 0
        raise
    count = data.get("deleted_count") if isinstance(data, dict) else None
    if isinstance(count, bool) or not isinstance(count, int):
        return len(ids)  # a success that does not count: the service did as asked
    if count < len(ids):
        log.debug("%s: %d deleted, the others were gone already", what, count)
    return count
