"""The storage and CDN ports: where uploads are PUT and fetched back, and where outputs are served.

As on the real service, neither is the API host and neither takes the key: an upload URL, a
``download_url`` and an output URL are capabilities in themselves. An uploaded file stays
fetchable for ``upload_lifetime`` seconds (24 h by default), then answers 404.
"""

from __future__ import annotations

from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from uprez.standin.envelopes import failure
from uprez.standin.face import Face
from uprez.standin.faults import FaultPlan
from uprez.standin.misbehaving import send
from uprez.standin.settings import ServerSettings
from uprez.standin.store import PredictionStore
from uprez.standin.uploads import UploadError, UploadStore

_BODY_FAULTS = frozenset({"cut", "no_range", "bad_length"})


class StorageFace(Face):
    """The storage port: ``PUT /put/<token>`` (a ticket's upload) and ``/media/<id>/<name>``."""

    rules = Map(
        [
            Rule("/put/<token>", endpoint="put_target", methods=["PUT"]),
            Rule("/media/<media_id>/<name>", endpoint="media", methods=["GET", "HEAD"]),
        ]
    )
    uplink = frozenset({"put_target"})
    downlink = True

    def __init__(self, settings: ServerSettings, uploads: UploadStore, faults: FaultPlan) -> None:
        super().__init__(faults)
        self.settings = settings
        self.uploads = uploads

    def on_put_target(self, request: Request, token: str) -> Response:
        try:
            self.uploads.receive_put(
                token,
                request.stream,
                request.content_length,
                request.headers,
                self.settings.clock(),
                self.settings.max_upload_bytes,
            )
        except UploadError as exc:
            return failure(exc.status, str(exc))
        return Response(status=200)

    def on_media(self, request: Request, media_id: str, name: str) -> Response:
        media = self.uploads.get(media_id)
        if media is None or media.filename != name:
            raise NotFound("no such media")
        lifetime = min(self.settings.upload_lifetime, self.settings.retention_seconds)
        if self.settings.clock() - media.created > lifetime:
            raise NotFound("this media has expired")
        return send(
            request, media.path, media.content_type, self.faults.take("media", _BODY_FAULTS)
        )


class CdnFace(Face):
    """The CDN port: ``/outputs/<task id>/<name>``, for as long as the task is retained."""

    rules = Map([Rule("/outputs/<task_id>/<name>", endpoint="output", methods=["GET", "HEAD"])])
    downlink = True

    def __init__(
        self, settings: ServerSettings, predictions: PredictionStore, faults: FaultPlan
    ) -> None:
        super().__init__(faults)
        self.settings = settings
        self.predictions = predictions

    def on_output(self, request: Request, task_id: str, name: str) -> Response:
        pred = self.predictions.get(task_id, self.settings.clock())
        if pred is None:
            raise NotFound("no such output")
        for path in pred.output_files:
            if path.name == name:
                return send(request, path, "video/mp4", self.faults.take("output", _BODY_FAULTS))
        raise NotFound("no such output")
