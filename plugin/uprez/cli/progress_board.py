"""What the terminal's progress display says, worked out from the jobs' events.

One line per segment (its phase; bytes and rate while uploading or downloading; elapsed time
and time left while the service works) and a total line per job (segments done, seconds
billed, cost so far). Plain figures and words, no drawing: :mod:`uprez.cli.progress` draws
these lines with rich, and they can be read without a terminal.

The time left is never made up. It comes from ``expected_s``, the service time the provider's
learned rates predict for the task (:mod:`uprez.wavespeed.eta`); failing that, from how long
this job's finished segments took per second of video; failing that, it is "unknown".
"""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from uprez.records import JobEvent

__all__ = ["TOTAL", "Board", "Line", "clock_text", "size_text"]

#: The segment slot of a job's total line.
TOTAL = -1
#: The status a task has while it waits in the service's queue (its processing has not begun).
_QUEUED = "created"

JobKey = tuple[str, str]
LineKey = tuple[str, str, int]


@dataclass(frozen=True)
class Line:
    """One line of the display. ``completed`` of ``total`` fills its bar; a ``total`` of None
    is work of unknown length (the bar pulses)."""

    key: LineKey
    label: str
    phase: str
    info: str
    completed: float = 0.0
    total: float | None = None


@dataclass
class _Segment:
    """What the events told of one segment; times are the board's clock."""

    index: int
    seconds: float | None = None
    billed_seconds: int | None = None
    cost: Decimal | None = None
    phase: str = "waiting"
    since: float = 0.0  # when the current transfer began
    bytes: int = 0
    size: int | None = None
    last: float = 0.0  # when the last byte count came
    took: float | None = None  # how long the finished upload or download took
    charged: bool = False  # its task was submitted: the service bills it
    anchor: float = 0.0  # processing counted from here (moved on while the task is queued)
    expected: float | None = None  # service seconds, from the provider's learned rates
    processed: float | None = None  # how long the service took, measured here

    def take_tags(self, detail: dict[str, Any]) -> None:
        """The segment's facts, which every one of its events carries."""
        seconds, billed, cost = (detail.get(k) for k in ("seconds", "billed_seconds", "cost"))
        if isinstance(seconds, int | float):
            self.seconds = float(seconds)
        if isinstance(billed, int):
            self.billed_seconds = billed
        if cost is not None:
            try:
                self.cost = Decimal(str(cost))
            except InvalidOperation:
                self.cost = None


@dataclass
class _Job:
    name: str
    count: int
    segments: dict[int, _Segment] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.segments = {i: _Segment(i) for i in range(self.count)}


class Board:
    """The state of every job being shown, fed one event at a time (from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[JobKey, _Job] = {}

    def feed(self, event: JobEvent, now: float) -> str | None:
        """Take in ``event``, seen at ``now``. When it ends its job (``completed`` or
        ``failed``), the job leaves the board and its closing line is returned."""
        key = (str(event.source), event.step)
        detail = event.detail
        with self._lock:
            if event.kind in ("completed", "failed"):
                job = self._jobs.pop(key, None)
                if job is None:  # an earlier result handed back: nothing was shown
                    return None
                return _closing(job, event.kind)
            count = detail.get("segments", 1)
            job = self._jobs.get(key)
            if job is None or job.count != count:  # a job planned again starts afresh
                job = self._jobs[key] = _Job(event.source.name, count)
            segment = job.segments.get(detail.get("segment", 0))
            if segment is None:
                return None
            segment.take_tags(detail)
            _advance(job, segment, event, now)
        return None

    def keys(self) -> list[LineKey]:
        """The lines to show, in order: each job's segments, then its total."""
        with self._lock:
            return [
                (name, step, index)
                for (name, step), job in self._jobs.items()
                for index in [*job.segments, TOTAL]
            ]

    def line(self, key: LineKey, now: float) -> Line | None:
        """Line ``key`` as it reads at ``now`` (None once its job has ended)."""
        with self._lock:
            job = self._jobs.get(key[:2])
            if job is None:
                return None
            if key[2] == TOTAL:
                return _total_line(key, job)
            segment = job.segments.get(key[2])
            return None if segment is None else _segment_line(key, job, segment, now)

    def lines(self, now: float) -> list[Line]:
        """Every line at ``now``."""
        return [line for key in self.keys() if (line := self.line(key, now)) is not None]


def _advance(job: _Job, segment: _Segment, event: JobEvent, now: float) -> None:
    """Move ``segment`` on with ``event``."""
    kind, detail = event.kind, event.detail
    if kind in ("uploading", "downloading"):
        if segment.phase != kind:  # a transfer begins
            segment.phase, segment.since, segment.bytes, segment.size = kind, now, 0, None
            if kind == "downloading" and segment.processed is None:
                segment.processed = now - segment.anchor
        if "bytes" in detail:
            segment.bytes, segment.size, segment.last = detail["bytes"], detail.get("total"), now
        if segment.size is not None and segment.bytes >= segment.size:
            segment.took = now - segment.since
            segment.phase = "uploaded" if kind == "uploading" else "done"
    elif kind == "submitted":  # timed from here, as the provider's poller times it
        segment.phase, segment.charged, segment.anchor = "submitted", True, now
        segment.processed = None
        segment.expected = detail.get("expected_s", segment.expected)
    elif kind == "processing":
        if event.message == _QUEUED:
            segment.phase, segment.anchor = "queued", now
        elif segment.phase in ("submitted", "queued", "waiting", "uploaded"):
            segment.phase = "processing"
        if "expected_s" in detail:
            segment.expected = detail["expected_s"]


def _segment_line(key: LineKey, job: _Job, segment: _Segment, now: float) -> Line:
    label = f"{job.name} {segment.index + 1}/{job.count}"
    phase = segment.phase
    if phase in ("uploading", "downloading"):
        info = _transfer(segment)
        return Line(key, label, phase, info, segment.bytes, segment.size)
    if phase in ("uploaded", "done"):
        return Line(key, label, phase, _finished_transfer(segment), 1, 1)
    if phase == "queued":
        return Line(key, label, phase, f"in the service's queue {clock_text(now - segment.anchor)}")
    if phase in ("submitted", "processing"):
        elapsed = now - segment.anchor
        expected = segment.expected if segment.expected else _observed(job, segment)
        if expected is None:
            return Line(key, label, phase, f"{clock_text(elapsed)} · time left unknown")
        if elapsed > expected:
            info = f"{clock_text(elapsed)} · expected {clock_text(expected)}, taking longer"
        else:
            info = f"{clock_text(elapsed)} · about {clock_text(expected - elapsed)} left"
        return Line(key, label, phase, info, min(elapsed, expected), expected)
    return Line(key, label, phase, "")


def _observed(job: _Job, segment: _Segment) -> float | None:
    """The service time of ``segment`` at the pace of this job's finished segments, per
    second of video; None without such a segment or without the durations."""
    if not segment.seconds:
        return None
    rates = [
        other.processed / other.seconds
        for other in job.segments.values()
        if other.processed is not None and other.seconds
    ]
    return statistics.median(rates) * segment.seconds if rates else None


def _transfer(segment: _Segment) -> str:
    done = size_text(segment.bytes)
    of = f" of {size_text(segment.size)}" if segment.size is not None else ""
    seconds = segment.last - segment.since
    rate = f" · {size_text(segment.bytes / seconds)}/s" if segment.bytes and seconds > 0 else ""
    return f"{done}{of}{rate}"


def _finished_transfer(segment: _Segment) -> str:
    verb = "uploaded" if segment.phase == "uploaded" else "downloaded"
    text = f"{size_text(segment.size or segment.bytes)} {verb}"
    if segment.took:
        text += f" in {clock_text(segment.took)} · {size_text(segment.bytes / segment.took)}/s"
    return text


def _total_line(key: LineKey, job: _Job) -> Line:
    done = sum(s.phase == "done" for s in job.segments.values())
    return Line(key, f"{job.name} total", "", _bill(job, done), done, job.count)


def _bill(job: _Job, done: int) -> str:
    """Segments done and what the submitted tasks are billed, with the job's whole bill once
    every segment has said what it costs."""
    segments = list(job.segments.values())
    charged = [s for s in segments if s.charged]
    text = f"{done} of {job.count} segment{'s' if job.count != 1 else ''} done"
    if any(s.billed_seconds is None or s.cost is None for s in charged):
        return f"{text} · cost unknown"
    billed = sum(s.billed_seconds or 0 for s in charged)
    cost = sum((s.cost or Decimal(0) for s in charged), Decimal("0.00"))
    text += f" · billed {billed} s, ${cost}"
    if all(s.billed_seconds is not None and s.cost is not None for s in segments):
        whole = sum(s.billed_seconds or 0 for s in segments)
        total = sum((s.cost or Decimal(0) for s in segments), Decimal("0.00"))
        if (whole, total) != (billed, cost):
            text += f" of {whole} s, ${total}"
    return text


def _closing(job: _Job, kind: str) -> str:
    """The line left on the terminal when a job ends."""
    done = sum(s.phase == "done" for s in job.segments.values())
    if kind == "completed":
        # Segments finished by an earlier run are handed back without an event of their own.
        done = job.count
    return f"{job.name}: {'finished' if kind == 'completed' else 'failed'}, {_bill(job, done)}"


def size_text(count: float) -> str:
    """A byte count in decimal units: ``512 B``, ``1.5 kB``, ``12.3 MB``."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def clock_text(seconds: float) -> str:
    """A duration as ``m:ss`` (``h:mm:ss`` from an hour on)."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
