"""Misbehaving on purpose: faults the local server injects so clients can prove they survive.

A :class:`Fault` applies to one route (see :data:`ROUTES`: on the API port ``submit``,
``prediction``, ``list_predictions``, ``delete_predictions``, ``balance``, ``webhook_secret``,
``pricing``, ``upload_ticket``, ``upload_binary``, ``upload_legacy``; on the storage port
``put_target`` and ``media``; on the CDN port ``output``) for its next ``times`` requests
(``-1``: every request). Tests add faults in-process (``server.app.faults.add(...)``); anyone
else can ``POST /_uprez/faults`` with a JSON list of faults and the server's key. A fault that
names an unknown route or kind, a kind that does not apply to its route, an HTTP status outside
100..599 or ``times`` other than -1 or at least 1 is refused (ValueError).

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
  ``black``       the next task submitted comes back black
  ``frozen``      the next task submitted comes back with its first frame shown throughout
  ``other``       the next task submitted comes back as another clip (a game of life)

The last three keep the size, frame rate, frame count and audio of a true upscale: only a
check of the picture (:mod:`uprez.media.content`) can tell them from one.
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
        "black",
        "frozen",
        "other",
    }
)
#: The kinds that replace a task's picture (see :mod:`uprez.standin.tamper`).
PICTURE_KINDS = frozenset({"black", "frozen", "other"})


ROUTES = frozenset(
    {
        "submit",
        "prediction",
        "list_predictions",
        "delete_predictions",
        "balance",
        "webhook_secret",
        "pricing",
        "upload_ticket",
        "upload_binary",
        "upload_legacy",
        "put_target",
        "media",
        "output",
    }
)
# Kinds that only make sense on some routes; the others apply anywhere.
_ONLY_ON = {
    "cut": frozenset({"media", "output"}),
    "no_range": frozenset({"media", "output"}),
    "bad_length": frozenset({"media", "output"}),
    "task_status": frozenset({"prediction"}),
    "no_outputs": frozenset({"prediction"}),
    "task_fail": frozenset({"submit"}),
    "drop_audio": frozenset({"submit"}),
    **{kind: frozenset({"submit"}) for kind in PICTURE_KINDS},
}
# Longest injected delay, in seconds: long enough for any test, short of holding a thread for ever.
MAX_DELAY = 600.0


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
        if self.route not in ROUTES:
            raise ValueError(f"unknown fault route {self.route!r}; known: {sorted(ROUTES)}")
        allowed = _ONLY_ON.get(self.kind)
        if allowed is not None and self.route not in allowed:
            raise ValueError(f"fault kind {self.kind!r} applies only to {sorted(allowed)}")
        if not _is_int(self.times) or not (self.times >= 1 or self.times == -1):
            raise ValueError(f"times must be -1 (every request) or at least 1, not {self.times!r}")
        if not _is_int(self.status) or not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status from 100 to 599, not {self.status!r}")
        if self.code is not None and not _is_int(self.code):
            raise ValueError(f"code must be a whole number, not {self.code!r}")
        if self.retry_after is not None and not isinstance(self.retry_after, str):
            raise ValueError(f"retry_after must be a string, not {self.retry_after!r}")
        number = isinstance(self.delay, int | float) and not isinstance(self.delay, bool)
        if not number or not 0 <= self.delay <= MAX_DELAY:
            raise ValueError(f"delay must be a number of seconds from 0 to {MAX_DELAY:.0f}")
        if not isinstance(self.task_status, str) or not self.task_status:
            raise ValueError("task_status must be a non-empty string")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        """A fault from its JSON form (the admin route's body)."""
        allowed = set(cls.__dataclass_fields__)
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; known: {sorted(allowed)}")
        return cls(**data)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
