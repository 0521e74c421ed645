"""Misbehaving on purpose: faults the local server injects so clients can prove they survive.

A :class:`Fault` applies to one route (the endpoint names of ``app.py``: ``submit``,
``prediction``, ``list_predictions``, ``balance``, ``upload_ticket``, ``put_target``,
``upload_binary``, ``upload_legacy``, ``media``, ``output``) for its next ``times`` requests
(``-1``: every request). Tests add faults in-process (``server.app.faults.add(...)``); anyone
else can ``POST /_uprez/faults`` with a JSON list of faults and the server's key.

Kinds:
  ``http``        answer HTTP ``status`` (envelope code ``code``, default the status), with an
                  optional ``retry_after`` header value
  ``envelope``    answer HTTP 200 with envelope code ``code`` and no data
  ``drop``        close the connection without answering (before the request is handled)
  ``drop_after``  handle the request, then close the connection without answering (a submit
                  whose task exists but whose answer was lost)
  ``garbage``     answer HTTP 200 with a body that is not JSON
  ``cut``         (``media``, ``output``) send half the body, then break the connection
  ``no_range``    (``media``, ``output``) ignore ``Range``: always the whole file, HTTP 200
  ``bad_length``  (``media``, ``output``) announce 1000 bytes more than are sent
  ``delay``       wait ``delay`` seconds, then answer normally
  ``task_status`` the prediction routes report ``task_status`` instead of the real status
  ``no_outputs``  the prediction routes report a completed task with no outputs
  ``task_fail``   the next task submitted fails with task code ``code``
  ``drop_audio``  the next task submitted comes back without its audio streams
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = frozenset(
    {
        "http",
        "envelope",
        "drop",
        "delay",
        "garbage",
        "drop_after",
        "cut",
        "no_range",
        "bad_length",
        "task_status",
        "no_outputs",
        "task_fail",
        "drop_audio",
    }
)


@dataclass
class Fault:
    """One injected misbehaviour; see the module's documentation for the kinds."""

    route: str
    kind: str
    times: int = 1
    status: int = 500
    code: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    task_status: str = "processing"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(KINDS)}")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        """A fault from its JSON form (the admin route's body)."""
        allowed = set(cls.__dataclass_fields__)
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; known: {sorted(allowed)}")
        return cls(**data)


class FaultPlan:
    """The faults waiting to happen, consumed as requests arrive; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.injected: dict[str, int] = {}

    def add(self, *faults: Fault) -> None:
        """Queue faults; they apply in the order added."""
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def take(self, route: str, kinds: frozenset[str] | None = None) -> Fault | None:
        """The first pending fault for ``route`` (of one of ``kinds``), consuming one use."""
        with self._lock:
            for fault in self._faults:
                if fault.route != route or (kinds is not None and fault.kind not in kinds):
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                key = f"{route}:{fault.kind}"
                self.injected[key] = self.injected.get(key, 0) + 1
                return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        """The faults still waiting, as JSON."""
        with self._lock:
            return [asdict(f) for f in self._faults]
