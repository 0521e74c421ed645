"""How long the service takes, learned from the tasks it finished, so polls can wait for it.

Each finished task leaves a sample: how much work it was (video seconds when the source could be
probed, bytes otherwise) and how many seconds the service spent. The estimate for a new task
scales the recent rates by its size: the median rate gives the expected time, the fastest one
the earliest, which is when the first poll goes.
"""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Protocol

from uprez.errors import MediaError
from uprez.media.image_sequence import ImageSequence
from uprez.media.remote import RemoteVideo, Source, describe

# Recent samples weigh in; older ones describe a service that may have changed.
KEEP = 10


@dataclass(frozen=True)
class Estimate:
    """Seconds of service time a task should take (``expected``) and at the soonest
    (``earliest``)."""

    expected: float
    earliest: float


@dataclass(frozen=True)
class Work:
    """How much a task asks of the service: ``amount`` of ``kind`` ("seconds" or "bytes")."""

    kind: str
    amount: float


def work_of(source: Source) -> Work:
    """The work ``source`` is: its duration if it is a readable video, else its size."""
    try:
        seconds = describe(source).duration
    except MediaError:
        seconds = 0.0
    if seconds > 0 or isinstance(source, RemoteVideo):
        return Work("seconds", seconds)
    if isinstance(source, ImageSequence):
        return Work("bytes", float(source.size_bytes()))
    return Work("bytes", float(source.stat().st_size))


class SampleStore(Protocol):
    """Where samples outlive the process (the journal)."""

    def task_rates(self, service: str, kind: str, limit: int) -> list[float]: ...

    def add_task_rate(self, service: str, kind: str, rate: float) -> None: ...


class TaskTimes:
    """Rates (service seconds per unit of work) per service and kind of work, kept in memory
    and, when a ``store`` is given, in it too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rates: dict[tuple[str, str], deque[float]] = defaultdict(lambda: deque(maxlen=KEEP))

    def estimate(
        self, service: str, work: Work, store: SampleStore | None = None
    ) -> Estimate | None:
        """The estimate for ``work`` on ``service``, or None with no history at all."""
        with self._lock:
            rates = list(self._rates[(service, work.kind)])
        if not rates and store is not None:
            rates = store.task_rates(service, work.kind, KEEP)
            with self._lock:
                self._rates[(service, work.kind)].extend(rates)
        if not rates or work.amount <= 0:
            return None
        return Estimate(
            expected=statistics.median(rates) * work.amount, earliest=min(rates) * work.amount
        )

    def learn(
        self, service: str, work: Work, seconds: float, store: SampleStore | None = None
    ) -> None:
        """Remember that ``work`` took ``seconds``."""
        if work.amount <= 0 or seconds <= 0:
            return
        rate = seconds / work.amount
        with self._lock:
            self._rates[(service, work.kind)].append(rate)
        if store is not None:
            store.add_task_rate(service, work.kind, rate)
