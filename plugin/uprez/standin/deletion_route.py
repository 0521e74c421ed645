"""The API port's ``POST /api/v3/predictions/delete`` ``{"ids": [...]}``: each task the account
has is forgotten, with its output and its input when that was uploaded here, so that its result,
the listing, the output URL and the upload's URL all answer as for a task that never was.

The body is checked strictly: exactly ``{"ids": [...]}``, a non-empty list of at most
:data:`MAX_DELETE_IDS` task ids. The answer is the documented ``data.deleted_count``; ids the
server does not know (deleted already, past retention) are not counted, and are no error.
"""

from __future__ import annotations

import logging
import shutil
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from uprez.standin.bodies import read_json
from uprez.standin.envelopes import envelope, failure
from uprez.standin.settings import ServerSettings
from uprez.standin.store import PredictionStore
from uprez.standin.uploads import UploadStore

log = logging.getLogger(__name__)
#: Most task ids one deletion takes (the service documents no limit; a strict twin keeps one).
MAX_DELETE_IDS = 100


def _task_ids(body: object) -> list[str]:
    """The ``ids`` of a deletion's body, each once; ``ValueError`` saying what is wrong."""
    if not isinstance(body, dict) or set(body) != {"ids"}:
        raise ValueError('the body must be a JSON object {"ids": ["<task id>", ...]} and no more')
    ids = body["ids"]
    if not isinstance(ids, list) or not ids:
        raise ValueError("'ids' must be a non-empty list of task ids")
    if len(ids) > MAX_DELETE_IDS:
        raise ValueError(f"'ids' holds {len(ids)} task ids; at most {MAX_DELETE_IDS} at once")
    if not all(isinstance(item, str) and item.strip() for item in ids):
        raise ValueError("each of 'ids' must be a task id (a non-empty string)")
    return list(dict.fromkeys(ids))


class DeletionRoute:
    """The deletion endpoint of the API face (mixed into :class:`uprez.standin.app.ServiceApp`)."""

    settings: ServerSettings
    predictions: PredictionStore
    uploads: UploadStore
    storage_port: int
    deletions: int

    def on_delete_predictions(self, request: Request) -> Response:
        """``POST /api/v3/predictions/delete`` with ``{"ids": [...]}``: each task the account
        has is forgotten with its output and its input (when the input is an upload here);
        unknown ids are left out of ``data.deleted_count``, as the documented answer counts."""
        try:
            ids = _task_ids(read_json(request, '{"ids": ["<task id>", ...]}'))
        except ValueError as exc:
            return failure(400, str(exc))
        now = self.settings.clock()
        deleted = 0
        for task_id in ids:
            pred = self.predictions.forget(task_id, now)
            if pred is None:
                continue
            for path in pred.output_files:
                shutil.rmtree(path.parent, ignore_errors=True)
            media_id = self._uploaded_here(pred.input.get("video"))
            if media_id is not None:
                self.uploads.discard(media_id)
            deleted += 1
            log.info("task %s deleted with its output and input", task_id)
        self.deletions += deleted
        return envelope({"deleted_count": deleted})

    def _uploaded_here(self, url: object) -> str | None:
        """The media id of an input URL that names a file uploaded to this server."""
        if not isinstance(url, str):
            return None
        parts = urlsplit(url)
        segments = parts.path.split("/")
        if parts.port != self.storage_port or len(segments) != 4 or segments[1] != "media":
            return None
        media = self.uploads.get(segments[2])
        return media.id if media is not None and media.filename == segments[3] else None
