"""The local server's API port: the service's routes, envelopes, auth and account limits.

Uploads are PUT to and fetched from a second port (storage, :mod:`uprez.standin.files`) and
outputs are served from a third (CDN); this port serves neither. See :class:`ServiceApp`.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from uprez import protocol
from uprez.standin.bodies import read_json
from uprez.standin.deletion_route import DeletionRoute
from uprez.standin.envelopes import envelope, failure
from uprez.standin.face import Face
from uprez.standin.faults import PICTURE_KINDS, Fault, FaultPlan
from uprez.standin.files import CdnFace, StorageFace
from uprez.standin.inputs import check_url
from uprez.standin.limits import MinuteWindow
from uprez.standin.link import Link
from uprez.standin.listing import ListingQuery
from uprez.standin.processing import Processor
from uprez.standin.settings import ServerSettings
from uprez.standin.store import PredictionStore
from uprez.standin.upload_routes import UploadRoutes
from uprez.standin.uploads import UploadStore
from uprez.standin.webhooks import WebhookSender

log = logging.getLogger(__name__)


class ServiceApp(UploadRoutes, DeletionRoute, Face):
    """A WSGI application speaking the WaveSpeed contract over the server's stores.

    It owns the state every port shares (predictions, uploads, faults, the processor) and the
    two other faces: :attr:`storage` and :attr:`cdn`. The runner tells it their ports
    (:attr:`storage_port`, :attr:`cdn_port`) once they are bound.
    """

    rules = Map(
        [
            Rule("/_uprez/faults", endpoint="faults", methods=["GET", "POST", "DELETE"]),
            Rule("/_uprez/stats", endpoint="stats", methods=["GET"]),
            Rule("/api/v3/balance", endpoint="balance", methods=["GET"]),
            Rule("/api/v3/webhook/secret", endpoint="webhook_secret", methods=["GET"]),
            Rule("/api/v3/model/pricing", endpoint="pricing", methods=["POST"]),
            Rule("/api/v3/predictions", endpoint="list_predictions", methods=["POST"]),
            Rule("/api/v3/predictions/delete", endpoint="delete_predictions", methods=["POST"]),
            Rule("/api/v3/predictions/<task_id>", endpoint="prediction", methods=["GET"]),
            Rule("/api/v3/predictions/<task_id>/result", endpoint="prediction", methods=["GET"]),
            Rule("/api/v3/media/uploads", endpoint="upload_ticket", methods=["POST"]),
            Rule("/api/v3/media/upload/binary", endpoint="upload_binary", methods=["POST"]),
            Rule("/api/v3/upload", endpoint="upload_legacy", methods=["POST"]),
            Rule("/api/v3/<path:model>", endpoint="submit", methods=["POST"]),
        ]
    )
    # The multipart upload routes' bodies are the studio's uploads (see uprez.standin.link).
    uplink = frozenset({"upload_binary", "upload_legacy"})

    def __init__(self, settings: ServerSettings, root: Path) -> None:
        super().__init__(FaultPlan())
        self.settings = settings
        self.root = root
        self.predictions = PredictionStore(settings.retention_seconds)
        self.uploads = UploadStore(root / "uploads")
        (root / "work").mkdir(parents=True, exist_ok=True)
        (root / "outputs").mkdir(exist_ok=True)
        self.webhooks = WebhookSender(settings.webhook_secret, settings.clock)
        # The studio's line to the service, shared by all three ports (see uprez.standin.link).
        self.link = Link(settings)
        self.processor = Processor(settings, root, self.webhooks, self.input_headers)
        self.window = MinuteWindow(settings.rate_limit, settings.clock)
        self.submissions = 0
        self.deletions = 0
        self.storage = StorageFace(settings, self.uploads, self.faults)
        self.cdn = CdnFace(settings, self.predictions, self.faults)
        self.storage_port = 0
        self.cdn_port = 0

    def close(self) -> None:
        """Stop processing and delivering (tasks in progress fail with 5003)."""
        self.webhooks.close()
        self.processor.shutdown()
        for pred in self.predictions.all():
            pred.done.set()

    # -- plumbing ------------------------------------------------------------------------------

    def handle(self, name: str, request: Request, args: dict[str, Any]) -> Response:
        """Every route of this port wants the key."""
        if not self._authorized(request):
            return failure(401, "Unauthorized: a valid 'Authorization: Bearer <key>' is required")
        if name == "submit" and str(args.get("model", "")).strip("/") not in self.settings.models:
            # Not a model: no submit (and no submit fault) happens on this path.
            return failure(404, f"model {args.get('model')} not found")
        return super().handle(name, request, args)

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            return False
        return hmac.compare_digest(key.strip().encode(), self.settings.api_key.encode())

    def _origin(self, request: Request, port: int) -> str:
        """``scheme://host:port`` of one of this server's ports, as the client named the host."""
        host = urlsplit(request.host_url).hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"{request.scheme}://{host}:{port}"

    def storage_base(self, request: Request) -> str:
        """Where uploads are PUT and fetched back."""
        return self._origin(request, self.storage_port)

    def input_headers(self, url: str) -> dict[str, str]:
        """The headers of the model's fetch of ``url``: marked as the server's own when it is
        on this server's storage port, so the studio's link does not slow it — the real
        service fetches its inputs on its own network, not over the studio's line. The port
        decides, since the host is whatever name the client reached this server by; another
        host on the same port learns only a token that is good for this server's link alone."""
        parts = urlsplit(url)
        try:
            own = self.storage_port != 0 and parts.port == self.storage_port
        except ValueError:  # a port out of range: not ours
            own = False
        return self.link.own_fetch_headers() if own else {}

    # -- predictions ---------------------------------------------------------------------------

    def on_submit(self, request: Request, model: str) -> Response:
        if model not in self.settings.models:
            return failure(404, f"model {model} not found")
        body = read_json(request, 'a JSON object such as {"video": "<url>"}')
        if not isinstance(body, dict):
            return failure(400, 'the body must be a JSON object such as {"video": "<url>"}')
        if "video" not in body:
            return _invalid(protocol.CODE_MISSING_PARAMETER, "missing required parameter: video")
        try:
            check_url(body["video"])
        except ValueError as exc:
            return _invalid(protocol.CODE_INVALID_PARAMETER, str(exc))
        sync = body.pop("enable_sync_mode", False) is True
        body_webhook = body.pop("webhook_url", None)
        webhook = request.args.get("webhook") or body_webhook
        if webhook is not None and not _is_http_url(webhook):
            return _invalid(protocol.CODE_INVALID_PARAMETER, "the webhook must be an http(s) URL")
        if self.processor.balance < self.settings.price.cost(0):
            return failure(402, "insufficient balance")
        if not self.window.admit():
            # As documented: 429, no Retry-After ("limits reset every minute"; the twin
            # counts any 60 s, the strictest reading: see uprez.standin.limits).
            return failure(429, "Too many requests: the submit limit resets every minute")
        pred = self.predictions.create(
            model,
            body,
            request.host_url.rstrip("/"),
            self._origin(request, self.cdn_port),
            self.settings.clock(),
        )
        pred.webhook = webhook
        forced = self.faults.take("submit", frozenset({"task_fail"}))
        if forced is not None:
            pred.forced_code = forced.code or protocol.CODE_TASK_FAILED
        pred.drop_audio = self.faults.take("submit", frozenset({"drop_audio"})) is not None
        picture = self.faults.take("submit", PICTURE_KINDS)
        pred.tamper = picture.kind if picture is not None else None
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
        pred = self.predictions.get(task_id, self.settings.clock())
        if pred is None:
            return failure(404, f"prediction {task_id} not found")
        pred.polls += 1
        data = pred.to_json(with_input=True)
        fault = self.faults.take("prediction", frozenset({"task_status", "no_outputs"}))
        if fault is not None and fault.kind == "task_status":
            data.update(status=fault.task_status, outputs=[], has_nsfw_contents=[])
        elif fault is not None:
            data.update(status="completed", outputs=[], has_nsfw_contents=[])
        return envelope(data)

    def on_list_predictions(self, request: Request) -> Response:
        try:
            query = ListingQuery.from_json(read_json(request, "the listing query"))
        except ValueError as exc:
            return failure(400, str(exc))
        return envelope(query.answer(self.predictions.recent(self.settings.clock())))

    # -- the account ---------------------------------------------------------------------------

    def on_balance(self, request: Request) -> Response:
        return envelope({"balance": float(self.processor.balance)})

    def on_pricing(self, request: Request) -> Response:
        """The reference's ``POST /api/v3/model/pricing``: the unit price (per second of video,
        for this model) of a known model; nothing is charged."""
        body = read_json(request, 'a JSON object such as {"model_id": "...", "inputs": {}}')
        model = body.get("model_id") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            return failure(400, "'model_id' must be a model id")
        if model.strip("/") not in self.settings.models:
            return failure(404, f"model {model} not found")
        price = self.settings.price.per_second
        return envelope({"model_id": model, "unit_price": float(price), "currency": "USD"})

    def on_webhook_secret(self, request: Request) -> Response:
        return envelope({"secret": self.settings.webhook_secret})

    # -- administration (not part of the service) ----------------------------------------------

    def on_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            body = read_json(request, "a fault or a list of faults")
            items = body if isinstance(body, list) else [body]
            try:
                faults = [Fault.from_json(_fault_object(item)) for item in items]
            except (TypeError, ValueError) as exc:
                return failure(400, f"bad fault: {exc}")
            self.faults.add(*faults)
        return envelope({"pending": self.faults.pending()})

    def on_stats(self, request: Request) -> Response:
        return envelope(
            {
                "submissions": self.submissions,
                "uploads": self.uploads.count(),
                "deleted": self.deletions,
                "injected": dict(self.faults.injected),
                "peak_running": self.processor.peak_running,
                "peak_outstanding": self.processor.peak_outstanding,
                "rate_limited": self.window.refused,
                "webhooks": {
                    "delivered": self.webhooks.delivered,
                    "failed": self.webhooks.failed,
                },
            }
        )


def _invalid(code: int, message: str) -> Response:
    """A 400 whose envelope carries a task code (1400 missing, 1401 invalid parameter)."""
    return envelope(None, status=400, code=code, message=message)


def _is_http_url(value: object) -> bool:
    try:
        check_url(value)
    except ValueError:
        return False
    return True


def _fault_object(item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"each fault is a JSON object, not {item!r}")
    return item
