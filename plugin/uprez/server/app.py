"""The local server's HTTP face: the service's routes, envelopes and auth, on werkzeug."""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from uprez import protocol
from uprez.server.envelopes import envelope, failure
from uprez.server.faults import Fault, FaultPlan
from uprez.server.inputs import check_url
from uprez.server.misbehaving import drop, inject, send
from uprez.server.processing import Processor
from uprez.server.settings import ServerSettings
from uprez.server.store import PredictionStore
from uprez.server.uploads import UploadError, UploadStore, content_type_for

log = logging.getLogger(__name__)
_REQUEST_FAULTS = frozenset({"http", "envelope", "drop", "delay", "garbage", "drop_after"})
_BODY_FAULTS = frozenset({"cut", "no_range", "bad_length"})

# Limits of the older ``/api/v3/upload`` route, by media kind, as documented.
LEGACY_LIMITS = {"video": 100 * 1024**2, "image": 20 * 1024**2, "audio": 50 * 1024**2}

_RULES = Map(
    [
        Rule("/_uprez/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]),
        Rule("/_uprez/stats", endpoint="stats", methods=["GET"]),
        Rule("/api/v3/balance", endpoint="balance", methods=["GET"]),
        Rule("/api/v3/predictions", endpoint="list_predictions", methods=["GET"]),
        Rule("/api/v3/predictions/<task_id>", endpoint="prediction", methods=["GET"]),
        Rule("/api/v3/predictions/<task_id>/result", endpoint="prediction", methods=["GET"]),
        Rule("/api/v3/media/uploads", endpoint="upload_ticket", methods=["POST"]),
        Rule("/api/v3/media/upload/binary", endpoint="upload_binary", methods=["POST"]),
        Rule("/api/v3/upload", endpoint="upload_legacy", methods=["POST"]),
        Rule("/api/v3/<path:model>", endpoint="submit", methods=["POST"]),
        Rule("/put/<token>", endpoint="put_target", methods=["PUT"]),
        Rule("/media/<media_id>/<name>", endpoint="media", methods=["GET", "HEAD"]),
        Rule("/outputs/<task_id>/<name>", endpoint="output", methods=["GET", "HEAD"]),
    ]
)


class ServiceApp:
    """A WSGI application speaking the WaveSpeed contract over the server's stores."""

    def __init__(self, settings: ServerSettings, root: Path, own_hosts: set[str]) -> None:
        self.settings = settings
        self.root = root
        self.own_hosts = own_hosts
        self.predictions = PredictionStore(settings.retention_seconds)
        self.uploads = UploadStore(root / "uploads")
        (root / "work").mkdir(parents=True, exist_ok=True)
        (root / "outputs").mkdir(exist_ok=True)
        self.processor = Processor(settings, self.uploads, root, own_hosts)
        self.submissions = 0
        self.faults = FaultPlan()

    # -- WSGI plumbing -------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except HTTPException as exc:
            response = failure(exc.code or 500, exc.description or exc.name)
            # Keep what the exception says beyond its body: Allow on 405, Content-Range on 416.
            for name, value in exc.get_headers(request.environ):
                if name.lower() not in ("content-type", "content-length"):
                    response.headers[name] = value
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            response = failure(500, "internal server error")
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = _RULES.bind_to_environ(request.environ)
        endpoint, args = adapter.match()
        name = str(endpoint)
        # Storage and CDN URLs are capabilities in themselves: they take no key.
        if name not in ("put_target", "media", "output") and not self._authorized(request):
            return failure(401, "Unauthorized: a valid 'Authorization: Bearer <key>' is required")
        fault = self.faults.take(name, _REQUEST_FAULTS)
        if fault is not None and fault.kind == "drop_after":
            # Do the work, then lose the answer: the client cannot know it happened.
            getattr(self, "on_" + name)(request, **args)
            return drop(request)
        if fault is not None:
            injected = inject(request, fault)
            if injected is not None:
                return injected
        return getattr(self, "on_" + name)(request, **args)  # type: ignore[no-any-return]

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            return False
        return hmac.compare_digest(key.strip().encode(), self.settings.api_key.encode())

    def _now(self) -> float:
        return self.settings.clock()

    def _base(self, request: Request) -> str:
        self.own_hosts.add(request.host)
        return request.host_url.rstrip("/")

    # -- predictions ---------------------------------------------------------------------------

    def on_submit(self, request: Request, model: str) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return failure(400, 'the body must be a JSON object such as {"video": "<url>"}')
        if "video" not in body:
            return envelope(
                None,
                status=400,
                code=protocol.CODE_MISSING_PARAMETER,
                message="missing required parameter: video",
            )
        try:
            check_url(body["video"])
        except ValueError as exc:
            return envelope(
                None, status=400, code=protocol.CODE_INVALID_PARAMETER, message=str(exc)
            )
        if self.processor.balance < self.settings.price.cost(0):
            return failure(402, "insufficient balance")
        sync = body.pop("enable_sync_mode", False) is True
        body_webhook = body.pop("webhook_url", None)
        webhook = request.args.get("webhook") or body_webhook
        pred = self.predictions.create(model, body, self._base(request), self._now())
        pred.webhook = webhook if isinstance(webhook, str) else None
        forced = self.faults.take("submit", frozenset({"task_fail"}))
        if forced is not None:
            pred.forced_code = forced.code or protocol.CODE_TASK_FAILED
        pred.drop_audio = self.faults.take("submit", frozenset({"drop_audio"})) is not None
        self.submissions += 1
        log.info("task %s created for model %s", pred.id, model)
        self.processor.enqueue(pred)
        if sync and not pred.done.wait(self.settings.sync_timeout):
            data = pred.to_json()
            data["code"] = protocol.CODE_TIMEOUT
            data["error"] = "Sync mode timed out; the task goes on: query its result later"
            return envelope(data)
        return envelope(pred.to_json())

    def on_prediction(self, request: Request, task_id: str) -> Response:
        pred = self.predictions.get(task_id, self._now())
        if pred is None:
            return failure(404, f"prediction {task_id} not found")
        pred.polls += 1
        data = pred.to_json()
        fault = self.faults.take("prediction", frozenset({"task_status", "no_outputs"}))
        if fault is not None and fault.kind == "task_status":
            data.update(status=fault.task_status, outputs=[], has_nsfw_contents=[])
        elif fault is not None:
            data.update(status="completed", outputs=[], has_nsfw_contents=[])
        return envelope(data)

    def on_list_predictions(self, request: Request) -> Response:
        try:
            page = max(1, int(request.args.get("page", "1")))
            size = min(100, max(1, int(request.args.get("page_size", "20"))))
        except ValueError:
            return failure(400, "page and page_size must be integers")
        items = self.predictions.recent(self._now())
        chosen = items[(page - 1) * size : page * size]
        return envelope(
            {
                "items": [p.to_json(with_input=True) for p in chosen],
                "page": page,
                "page_size": size,
                "total": len(items),
            }
        )

    def on_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            body = request.get_json(silent=True)
            items = body if isinstance(body, list) else [body]
            try:
                self.faults.add(
                    *(Fault.from_json(item) for item in items if isinstance(item, dict))
                )
            except (TypeError, ValueError) as exc:
                return failure(400, f"bad fault: {exc}")
        return envelope({"pending": self.faults.pending()})

    def on_stats(self, request: Request) -> Response:
        return envelope(
            {
                "submissions": self.submissions,
                "uploads": self.uploads.count(),
                "injected": dict(self.faults.injected),
                "peak_running": self.processor.peak_running,
            }
        )

    def on_balance(self, request: Request) -> Response:
        return envelope({"balance": float(self.processor.balance)})

    # -- uploads -------------------------------------------------------------------------------

    def on_upload_ticket(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return failure(400, "the body must be a JSON object {filename, size, content_type}")
        filename, size = body.get("filename"), body.get("size")
        if not isinstance(filename, str) or not filename:
            return failure(400, "'filename' must be a non-empty string")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return failure(400, "'size' must be a non-negative integer (bytes)")
        if size > self.settings.max_upload_bytes:
            return failure(
                413, f"file too large: the limit is {self.settings.max_upload_bytes} bytes"
            )
        declared = body.get("content_type")
        ctype = content_type_for(filename, declared if isinstance(declared, str) else None)
        now = self._now()
        ticket = self.uploads.open_ticket(
            filename, size, ctype, now, self.settings.upload_ticket_seconds
        )
        base = self._base(request)
        media = ticket.media
        expires = datetime.fromtimestamp(ticket.expires, UTC).isoformat().replace("+00:00", "Z")
        return envelope(
            {
                "download_url": f"{base}/media/{media.id}/{media.filename}",
                "filename": media.filename,
                "size": size,
                "type": ctype,
                "upload": {
                    "method": "PUT",
                    "url": f"{base}/put/{ticket.token}",
                    "headers": {"Content-Type": ctype},
                    "expires_at": expires,
                },
            }
        )

    def on_put_target(self, request: Request, token: str) -> Response:
        try:
            self.uploads.receive_put(token, request.stream, request.content_length, self._now())
        except UploadError as exc:
            return Response(str(exc), status=exc.status, mimetype="text/plain")
        return Response(status=200)

    def _multipart_file(self, request: Request) -> tuple[Any, Response | None]:
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return None, failure(400, "send the file as multipart/form-data in the field 'file'")
        return upload, None

    def on_upload_binary(self, request: Request) -> Response:
        upload, problem = self._multipart_file(request)
        if problem is not None:
            return problem
        try:
            media = self.uploads.store_stream(
                upload.filename,
                content_type_for(upload.filename, upload.mimetype or None),
                upload.stream,
                self.settings.max_upload_bytes,
                self._now(),
            )
        except UploadError as exc:
            return failure(exc.status, str(exc))
        base = self._base(request)
        return envelope(
            {
                "download_url": f"{base}/media/{media.id}/{media.filename}",
                "filename": media.filename,
                "size": media.size,
                "type": media.content_type,
            }
        )

    def on_upload_legacy(self, request: Request) -> Response:
        upload, problem = self._multipart_file(request)
        if problem is not None:
            return problem
        ctype = content_type_for(upload.filename, upload.mimetype or None)
        kind = ctype.split("/", 1)[0]
        if kind not in LEGACY_LIMITS:
            return failure(400, f"unsupported file type {ctype}: send a video, image or audio file")
        try:
            media = self.uploads.store_stream(
                upload.filename, ctype, upload.stream, LEGACY_LIMITS[kind], self._now()
            )
        except UploadError as exc:
            return failure(exc.status, str(exc))
        return envelope({"url": f"{self._base(request)}/media/{media.id}/{media.filename}"})

    # -- files ---------------------------------------------------------------------------------

    def on_media(self, request: Request, media_id: str, name: str) -> Response:
        media = self.uploads.get(media_id)
        if media is None or media.filename != name:
            raise NotFound("no such media")
        if self._now() - media.created > self.settings.retention_seconds:
            raise NotFound("this media has expired")
        return send(
            request, media.path, media.content_type, self.faults.take("media", _BODY_FAULTS)
        )

    def on_output(self, request: Request, task_id: str, name: str) -> Response:
        pred = self.predictions.get(task_id, self._now())
        if pred is None:
            raise NotFound("no such output")
        for path in pred.output_files:
            if path.name == name:
                return send(request, path, "video/mp4", self.faults.take("output", _BODY_FAULTS))
        raise NotFound("no such output")
