"""Planning a job: which segments a video is sent as, and what they cost.

A video within the service's limits goes whole. A longer one (or a larger one than the upload
limit) is cut into the fewest segments that each fit, at keyframes so the cuts are stream copies,
choosing among keyframes the cuts that bill least and balance best. Only where no keyframe allows
a valid cut is a segment cut frame-exactly (and so re-encoded before upload).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from uprez.billing import PriceRule
from uprez.step.wall_plan import wall_cuts

# Keyframes weighed on each side of a balanced cut position.
_NEAREST = 24


@dataclass(frozen=True)
class Segment:
    """Frames ``[first, stop)`` of the source, in presentation order.

    ``copy`` says the cut can be a stream copy (both ends on keyframes); ``whole`` that the
    segment is the entire source, sent as it is.
    """

    index: int
    first: int
    stop: int
    start: float
    end: float
    copy: bool = True
    whole: bool = False

    @property
    def duration(self) -> float:
        """Seconds of video in the segment."""
        return self.end - self.start

    def to_json(self, rule: PriceRule) -> dict[str, object]:
        """The segment with its bill, for ``--json`` outputs and sidecars."""
        return {
            "index": self.index,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "frames": self.stop - self.first,
            "copy": self.copy,
            "billed_seconds": rule.billed_seconds(self.duration),
            "cost": str(rule.cost(self.duration)),
        }


@dataclass(frozen=True)
class Plan:
    """The segments of one source and the bill they add up to."""

    duration: float
    frames: int
    fps: Fraction
    segments: tuple[Segment, ...]
    rule: PriceRule = field(default_factory=PriceRule)

    @property
    def billed_seconds(self) -> int:
        """Seconds billed over all segments."""
        return sum(self.rule.billed_seconds(s.duration) for s in self.segments)

    @property
    def cost(self) -> Decimal:
        """Dollars billed over all segments."""
        return sum((self.rule.cost(s.duration) for s in self.segments), Decimal("0.00"))


def plan_segments(
    *,
    frames: int,
    fps: Fraction,
    keyframes: Sequence[int],
    max_seconds: float,
    rule: PriceRule,
    size_bytes: int = 0,
    max_bytes: int | None = None,
    duration: float | None = None,
    frame_bytes: Sequence[int] | None = None,
    cap: int | None = None,
    wave: int = 0,
) -> Plan:
    """Plan the segments of a constant-frame-rate video of ``frames`` frames.

    ``keyframes`` are presentation indices of the keyframes. The limit per segment is
    ``max_seconds``, tightened so a segment's share of ``size_bytes`` stays under ``max_bytes``.
    ``duration`` is the container's duration when known (it bills a whole video); segments are
    timed by their frames.

    With the bytes before each frame (``frame_bytes``, see :mod:`uprez.step.wall_plan`), the
    upload ``cap`` and the account's ``wave`` (tasks it runs at once and submits a minute), a
    job of more than one wave is planned for the wall clock instead: the fewest segments the
    cap allows by their real bytes, the last wave short — when that bills no more than the
    balanced plan.
    """
    if frames <= 0 or fps <= 0:
        raise ValueError("a video needs frames and a frame rate to be planned")
    whole_duration = duration if duration is not None else float(frames / fps)
    duration = float(frames / fps)
    limit = max_seconds
    if max_bytes and size_bytes > max_bytes:
        limit = min(limit, duration * max_bytes / size_bytes)
    limit_frames = math.floor(limit * fps + 1e-9)
    if limit_frames < 1:
        raise ValueError(f"segments of at most {limit:.3f} s cannot hold one frame")
    if frames <= limit_frames and whole_duration <= max_seconds:
        whole = Segment(0, 0, frames, 0.0, whole_duration, copy=True, whole=True)
        return Plan(whole_duration, frames, fps, (whole,), rule)
    count = math.ceil(frames / limit_frames)
    cuts = _best_cuts(frames, fps, sorted(set(keyframes) | {0}), count, limit_frames, rule)
    balanced = _plan(cuts, frames, fps, keyframes, duration, rule)
    if frame_bytes is None or not cap:
        return balanced
    # By its real bytes, a segment is bound by the cap itself, not by a share of the average.
    longest = math.floor(max_seconds * fps + 1e-9)
    fast = wall_cuts(frames, keyframes, frame_bytes, cap, longest, wave)
    if fast is None:
        return balanced
    timed = _plan(fast, frames, fps, keyframes, duration, rule)
    over = any(frame_bytes[s.stop] - frame_bytes[s.first] > cap for s in balanced.segments)
    if over:  # the balanced cuts would be refused at upload: the timed ones fit
        return timed
    waves = math.ceil(len(timed.segments) / wave) - math.ceil(len(balanced.segments) / wave)
    better = waves < 0 or (
        waves == 0 and timed.segments[-1].duration < balanced.segments[-1].duration
    )
    return timed if better and timed.billed_seconds <= balanced.billed_seconds else balanced


def _plan(
    cuts: Sequence[int],
    frames: int,
    fps: Fraction,
    keyframes: Sequence[int],
    duration: float,
    rule: PriceRule,
) -> Plan:
    keyset = set(keyframes) | {0, frames}
    bounds = [0, *cuts, frames]
    segments = tuple(
        Segment(
            index=i,
            first=a,
            stop=b,
            start=float(a / fps),
            end=float(b / fps),
            copy=a in keyset and b in keyset,
        )
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    )
    return Plan(duration, frames, fps, segments, rule)


def _best_cuts(
    frames: int, fps: Fraction, keyframes: list[int], count: int, limit: int, rule: PriceRule
) -> list[int]:
    """The ``count - 1`` cut frames that re-encode fewest segments, then bill least, then
    balance best (shortest longest segment)."""
    ideal = [round(j * frames / count) for j in range(1, count)]
    keyset = set(keyframes)
    # Cut j must leave room for the segments before and after it; among the keyframes allowed,
    # the ones nearest the balanced position are the only ones worth weighing.
    windows = [
        (max(1, frames - (count - j) * limit), min(frames - 1, j * limit)) for j in range(1, count)
    ]
    candidates = []
    for j, (lo, hi) in enumerate(windows):
        at = bisect.bisect_left(keyframes, ideal[j])
        near = keyframes[max(0, at - _NEAREST) : at + _NEAREST]
        allowed = {k for k in near if lo <= k <= hi} | {min(max(ideal[j], lo), hi)}
        candidates.append(sorted(allowed))

    def seconds(a: int, b: int) -> float:
        return float((b - a) / fps)

    def score(a: int, b: int) -> tuple[int, int, float]:
        reencode = 0 if (a in keyset or a == 0) and (b in keyset or b == frames) else 1
        return (reencode, rule.billed_seconds(seconds(a, b)), seconds(a, b))

    # best[c] = (re-encoded segments, billed seconds, longest segment, cuts) ending at cut c.
    best: dict[int, tuple[int, int, float, list[int]]] = {0: (0, 0, 0.0, [])}
    for layer in candidates:
        nxt: dict[int, tuple[int, int, float, list[int]]] = {}
        for cut in layer:
            for prev, (re, bill, longest, path) in best.items():
                if not 0 < cut - prev <= limit:
                    continue
                r, b, s = score(prev, cut)
                option = (re + r, bill + b, max(longest, s), [*path, cut])
                if cut not in nxt or option[:3] < nxt[cut][:3]:
                    nxt[cut] = option
        best = nxt
    finals = []
    for prev, (re, bill, longest, path) in best.items():
        if 0 < frames - prev <= limit:
            r, b, s = score(prev, frames)
            finals.append((re + r, bill + b, max(longest, s), path))
    if not finals:  # cannot happen with the windows above, but never plan an invalid cut
        return ideal
    return min(finals, key=lambda f: f[:3])[3]
