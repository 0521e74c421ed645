"""Cuts planned for the wall clock: the fewest segments the upload cap allows, counted in the
bytes each will really hold, with the last wave of submits short.

An account that runs ``wave`` tasks at once and takes that many submits a minute (bronze: 2)
gets a job of more segments in waves, and the job ends when the last wave's tasks and downloads
end (see :mod:`uprez.step.ideal`). So every segment before the last wave is as long as the cap
allows, cut at the furthest keyframe whose packets fit, and the last wave shares what is left,
equally by time: its tasks and downloads are the shortest of the job.

The average bitrate says little about one segment's bytes, so plans by it keep a margin
(:data:`uprez.step.estimate.PLAN_SHARE`) that can cost a whole wave: 1.75 GB under a 100 MB cap
is 18 segments by the bytes, 20 by 90 % of the average (a tenth wave, a minute more at bronze).
Here the frames' own packet sizes (from the index) are summed, with the file's other bytes
(sound, container) spread over its frames, and only a small margin is kept for the cut's own
container.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

#: Share of the cap a segment's packets may fill: the rest is room for its container (an MP4's
#: sample tables are some 10 bytes a frame, well under 0.1 % of a segment). A 1080p H.264
#: segment planned at 98.9 MB was 98.6 MB once cut: the sound's even share over-counts a little.
FILL = 0.99


def frame_bytes(sizes: Sequence[int], file_size: int) -> list[int]:
    """Bytes in the file before each frame (presentation order), one entry more than frames:
    each frame's packet, plus an equal share of the bytes that are not video packets."""
    other = max(0, file_size - sum(sizes)) / max(1, len(sizes))
    return [
        round(total + other * n) for n, total in enumerate(itertools.accumulate(sizes, initial=0))
    ]


def wall_cuts(
    frames: int,
    keyframes: Sequence[int],
    before: Sequence[int],
    budget: int,
    limit_frames: int,
    wave: int,
) -> list[int] | None:
    """Cut frames for the fewest waves of segments under ``budget`` bytes and ``limit_frames``
    frames, each as long as it may be except the last wave's ``wave`` segments, which share the
    rest equally by time.

    ``before`` is :func:`frame_bytes`. None when keyframes are too far apart for a stream copy
    within the limits, or the job fits in one wave (then balanced cuts finish soonest).
    """
    keys = sorted(set(keyframes) | {0})

    def fits(a: int, b: int) -> bool:
        return 0 < b - a <= limit_frames and before[b] - before[a] <= budget * FILL

    cuts: list[int] = []
    at = 0
    while not fits(at, frames):
        position = bisect.bisect_right(keys, at + limit_frames) - 1
        while position >= 0 and keys[position] > at and not fits(at, keys[position]):
            position -= 1
        if position < 0 or keys[position] <= at:
            return None  # no keyframe within reach: the balanced planner re-encodes a cut
        at = keys[position]
        cuts.append(at)
    count = len(cuts) + 1
    if wave < 1 or count <= wave:
        return None
    # The last wave is filled: as many waves, and its tasks share what is left.
    count = -(-count // wave) * wave
    last = wave
    head = cuts[: count - last]
    start = head[-1] if head else 0
    tail: list[int] = []
    for j in range(1, last):
        ideal = start + round(j * (frames - start) / last)
        position = bisect.bisect_left(keys, ideal)
        near = [k for k in keys[max(0, position - 1) : position + 1] if k > (tail or [start])[-1]]
        if not near:
            return None
        tail.append(min(near, key=lambda k: abs(k - ideal)))
    bounds = [0, *head, *tail, frames]
    if not all(fits(a, b) for a, b in itertools.pairwise(bounds)):
        return None
    return [*head, *tail]
