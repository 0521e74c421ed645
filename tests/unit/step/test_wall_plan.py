"""Planning for the wall clock: the fewest segments by their real bytes, the last wave short."""

from __future__ import annotations

import itertools
from fractions import Fraction

from uprez.billing import PriceRule
from uprez.step.plan import plan_segments
from uprez.step.wall_plan import FILL, frame_bytes, wall_cuts

FPS = Fraction(25)


def test_the_bytes_before_each_frame_count_its_packets_and_a_share_of_the_rest() -> None:
    before = frame_bytes([10, 20, 30], file_size=90)  # 30 bytes of sound and container

    assert before == [0, 20, 50, 90]


def test_segments_before_the_last_wave_fill_the_cap_and_the_last_wave_shares_the_rest() -> None:
    frames = 1000
    before = frame_bytes([1000] * frames, frames * 1000)  # 1 kB a frame
    cap = 100_000  # 99 frames fit under FILL

    cuts = wall_cuts(frames, range(0, frames, 10), before, cap, frames, wave=2)

    assert cuts is not None
    bounds = [0, *cuts, frames]
    lengths = [b - a for a, b in itertools.pairwise(bounds)]
    assert len(lengths) == 12  # the fewest: 11 would need 91 frames each, over the cap
    assert lengths[:10] == [90] * 10  # as long as the cap allows, on keyframes
    assert lengths[10:] == [50, 50]  # the last wave shares the rest
    assert all(n * 1000 <= cap * FILL for n in lengths)


def test_one_wave_or_keyframes_too_far_apart_leave_the_balanced_planner_to_it() -> None:
    before = frame_bytes([1000] * 300, 300_000)

    # 150 frames are two segments: both run at once, so balanced ones end soonest
    assert wall_cuts(150, range(0, 150, 10), before, 100_000, 150, wave=2) is None
    assert wall_cuts(300, range(0, 300, 10), before, 100_000, 300, wave=2) is not None
    assert wall_cuts(300, [0, 200], before, 100_000, 300, wave=1) is None  # no keyframe in reach


def test_a_plan_by_real_bytes_fits_the_cap_where_the_average_would_not() -> None:
    # the first half of the video holds three times the bytes a frame of the second half does
    sizes = [3000] * 500 + [1000] * 500
    before = frame_bytes(sizes, sum(sizes))
    cap = 200_000

    plan = plan_segments(
        frames=1000,
        fps=FPS,
        keyframes=range(0, 1000, 5),
        max_seconds=600,
        rule=PriceRule(),
        size_bytes=sum(sizes),
        max_bytes=int(cap * 0.9),
        frame_bytes=before,
        cap=cap,
        wave=2,
    )

    for segment in plan.segments:
        assert before[segment.stop] - before[segment.first] <= cap
    assert plan.segments[-1].duration < plan.segments[0].duration or len(plan.segments) <= 2


def test_the_timed_plan_never_bills_more_than_the_balanced_one() -> None:
    frames = 15000  # 600 s
    before = frame_bytes([46_000] * frames, 46_000 * frames)  # ~690 MB
    common = {
        "frames": frames,
        "fps": FPS,
        "keyframes": range(0, frames, 50),
        "max_seconds": 600,
        "rule": PriceRule(),
        "size_bytes": before[-1],
        "max_bytes": 90_000_000,
    }

    balanced = plan_segments(**common)  # type: ignore[arg-type]
    timed = plan_segments(**common, frame_bytes=before, cap=100_000_000, wave=2)  # type: ignore[arg-type]

    assert timed.billed_seconds <= balanced.billed_seconds
    assert len(timed.segments) <= len(balanced.segments)
    assert timed.segments[-1].duration < balanced.segments[-1].duration  # the last wave short
    assert sum(s.duration for s in timed.segments) == 600
