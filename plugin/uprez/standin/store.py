"""The server's record of predictions: what each task was asked, where it stands, what it made."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from uprez import protocol


@dataclass
class Prediction:
    """One task as the server knows it."""

    id: str
    model: str
    input: dict[str, Any]
    base_url: str
    created: float
    # Where this task's outputs are served: the CDN port, as the client reached the API.
    cdn_base: str = ""
    status: str = protocol.CREATED
    outputs: list[str] = field(default_factory=list)
    output_files: list[Path] = field(default_factory=list)
    error: str = ""
    code: int | None = None
    inference_ms: int = 0
    webhook: str | None = None
    # A task code the task must fail with (an injected fault), instead of running.
    forced_code: int | None = None
    # Return the upscale without its audio (an injected fault).
    drop_audio: bool = False
    # Return a wrong picture instead of the upscale: "black", "frozen" or "other" (a fault).
    tamper: str | None = None
    # For benchmarks of polling: how often the task was asked after, and when (time.monotonic)
    # it reached a terminal status.
    polls: int = 0
    finished_at: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    # Deleted at the client's request: a worker still running it throws its output away.
    forgotten: bool = False

    def to_json(self, *, with_input: bool = False) -> dict[str, Any]:
        """The ``data`` object of the service's answers for this task; the per-task result
        (``with_input``) also carries the task's ``input``, as the Go SDK's prediction does."""
        data = self.listing_item()
        if self.code is not None:
            data["code"] = self.code
        if with_input:
            data["input"] = dict(self.input)
        return data

    def listing_item(self) -> dict[str, Any]:
        """This task as an item of the documented listing: exactly its fields, no ``input``."""
        return {
            "id": self.id,
            "model": self.model,
            "outputs": list(self.outputs),
            "urls": {"get": f"{self.base_url}/api/v3/predictions/{self.id}/result"},
            "has_nsfw_contents": [False for _ in self.outputs],
            "status": self.status,
            "created_at": datetime.fromtimestamp(self.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "error": self.error,
            "executionTime": self.inference_ms,
            "timings": {"inference": self.inference_ms},
        }


class PredictionStore:
    """Thread-safe predictions, in creation order, forgotten after the retention period."""

    def __init__(self, retention_seconds: float) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Prediction] = {}
        self._retention = retention_seconds

    def create(
        self, model: str, inputs: dict[str, Any], base_url: str, cdn_base: str, now: float
    ) -> Prediction:
        """Record a new task in the ``created`` state."""
        pred = Prediction(
            id=uuid.uuid4().hex,
            model=model,
            input=inputs,
            base_url=base_url,
            created=now,
            cdn_base=cdn_base,
        )
        with self._lock:
            self._items[pred.id] = pred
        return pred

    def get(self, task_id: str, now: float) -> Prediction | None:
        """The task with this id, unless unknown or past retention."""
        with self._lock:
            pred = self._items.get(task_id)
        if pred is None or now - pred.created > self._retention:
            return None
        return pred

    def forget(self, task_id: str, now: float) -> Prediction | None:
        """Delete the task (``POST /api/v3/predictions/delete``): it is known no more. Returns
        it, or None if it was unknown or past retention already."""
        with self._lock:
            pred = self._items.get(task_id)
            if pred is None or now - pred.created > self._retention:
                return None
            del self._items[task_id]
            pred.forgotten = True
        return pred

    def recent(self, now: float) -> list[Prediction]:
        """Live tasks, newest first."""
        with self._lock:
            items = list(self._items.values())
        return [p for p in reversed(items) if now - p.created <= self._retention]

    def all(self) -> list[Prediction]:
        """Every task ever recorded, oldest first (for shutdown and counting)."""
        with self._lock:
            return list(self._items.values())
