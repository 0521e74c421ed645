"""The physical bound of a job: the best wall time its segments could take on a given link.

A job's time is a critical path through cut -> upload -> wait -> download -> join. The bound
plays a schedule that wastes nothing on that path:

* the source is cut in order at the machine's copying speed (a cut must at least copy bytes);
* uploads go one after another, each at the whole uplink (taking turns gets the first one out
  soonest; sharing the link would end every upload no sooner than the last), each one request
  round trip for the ticket and one for the body;
* each segment is submitted the moment its upload ends, as the account's rate allows (at most
  ``per_minute`` submits in any 60 s: the strictest reading of "limits reset every minute"),
  one round trip each;
* the service runs at most ``at_once`` tasks, in the order they came, each for
  ``speed x`` its video seconds, and its end is noticed at once;
* downloads share the downlink the same way as uploads, in the order results are ready;
* the join copies each part in order once it is here, so what is left after the last download
  is copying the last part.

:func:`best_time` takes the least of that over every segment count from the fewest the upload
cap allows, and over two shapes of cut (all alike, or a short last wave), none of which bills
more than the fewest alike (see :func:`uprez.step.plan.plan_segments`).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

from uprez.protocol import RATE_WINDOW


@dataclass(frozen=True)
class Link:
    """A studio's connection to the service: bytes per second each way, and a round trip."""

    up: float
    down: float
    latency: float = 0.0


@dataclass(frozen=True)
class Service:
    """How fast the service works and what the account allows (None: no limit)."""

    speed: float
    """Service seconds per second of video."""
    per_minute: int | None = 2
    at_once: int | None = 2
    max_upload: int = 100_000_000


@dataclass(frozen=True)
class Piece:
    """One segment as the schedule sees it: its video seconds and the bytes it moves."""

    seconds: float
    up_bytes: int
    down_bytes: int
    join_bytes: int


@dataclass(frozen=True)
class Machine:
    """What the local work costs: bytes a second copied when cutting and when joining."""

    cut_rate: float
    join_rate: float


@dataclass(frozen=True)
class Timeline:
    """When each segment's steps end in the ideal schedule, and the job's end."""

    pieces: tuple[Piece, ...]
    cut: tuple[float, ...]
    uploaded: tuple[float, ...]
    submitted: tuple[float, ...]
    processed: tuple[float, ...]
    downloaded: tuple[float, ...]
    end: float


def schedule(pieces: Sequence[Piece], link: Link, service: Service, machine: Machine) -> Timeline:
    """The ideal timeline of ``pieces`` sent in order (see the module's description)."""
    cut: list[float] = []
    uploaded: list[float] = []
    submitted: list[float] = []
    processed: list[float] = []
    clock = 0.0
    for piece in pieces:
        clock += piece.up_bytes / machine.cut_rate
        cut.append(clock)
    uplink = 0.0
    for at in cut:
        uplink = max(uplink, at) + 2 * link.latency
        uplink += pieces[len(uploaded)].up_bytes / link.up
        uploaded.append(uplink)
    for i, ready in enumerate(uploaded):
        when = ready
        if service.per_minute is not None and i >= service.per_minute:
            when = max(when, submitted[i - service.per_minute] + RATE_WINDOW)
        if submitted:
            when = max(when, submitted[-1])  # submits go in order
        submitted.append(when)
    slots = [0.0] * (service.at_once or len(pieces))
    for piece, at in zip(pieces, submitted, strict=True):
        free = heapq.heappop(slots)
        start = max(free, at + link.latency)
        done = start + service.speed * piece.seconds
        heapq.heappush(slots, done)
        processed.append(done)
    downloaded = [0.0] * len(pieces)
    downlink = 0.0
    for i in sorted(range(len(pieces)), key=lambda k: processed[k]):
        downlink = max(downlink, processed[i]) + link.latency + pieces[i].down_bytes / link.down
        downloaded[i] = downlink
    joined = 0.0
    for piece, here in zip(pieces, downloaded, strict=True):
        joined = max(joined, here) + piece.join_bytes / machine.join_rate
    return Timeline(
        tuple(pieces),
        tuple(cut),
        tuple(uploaded),
        tuple(submitted),
        tuple(processed),
        tuple(downloaded),
        joined,
    )


@dataclass(frozen=True)
class Source:
    """What the bound needs of a source: its seconds, its bytes, and how many bytes the
    service sends back for each byte sent (4K out of 1080p: several)."""

    seconds: float
    size: int
    output_ratio: float
    max_seconds: float = 600.0
    min_billed: float = 5.0


def pieces_of(source: Source, lengths: Sequence[float]) -> list[Piece]:
    """Segments of the given lengths, their bytes in proportion to their seconds."""
    rate = source.size / source.seconds
    return [
        Piece(s, round(s * rate), round(s * rate * source.output_ratio), round(s * rate))
        for s in lengths
    ]


def shapes(source: Source, service: Service) -> list[list[float]]:
    """The cuts the bound weighs: from the fewest segments the limits allow up to two more
    waves of submits, each alike and with a short last wave (every segment but the last
    wave's at the longest the limits allow, the rest shared by the last wave). None bills a
    cent more: every piece is at least ``min_billed`` seconds, and billing floors each."""
    longest = min(source.max_seconds, source.seconds * service.max_upload / source.size)
    fewest = max(1, math.ceil(source.seconds / longest - 1e-9))
    wave = max(1, min(service.per_minute or fewest, service.at_once or fewest))
    found: list[list[float]] = []
    for count in range(fewest, fewest + 2 * wave + 1):
        found.append([source.seconds / count] * count)
        last = count % wave or wave
        if count > last:
            rest = source.seconds - (count - last) * longest
            if source.min_billed * last <= rest <= longest * last:
                found.append([longest] * (count - last) + [rest / last] * last)
    return found


def best_time(
    source: Source, link: Link, service: Service, machine: Machine
) -> tuple[float, Timeline]:
    """The physical bound: the least ideal time over :func:`shapes`, and its timeline."""
    best: Timeline | None = None
    for lengths in shapes(source, service):
        timeline = schedule(pieces_of(source, lengths), link, service, machine)
        if best is None or timeline.end < best.end:
            best = timeline
    assert best is not None
    return best.end, best
