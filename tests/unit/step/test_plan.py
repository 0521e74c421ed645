"""Billing and segment plans around every boundary of the service's rules."""

from __future__ import annotations

import itertools
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from uprez.billing import PriceRule
from uprez.step.plan import Plan, plan_segments

RULE = PriceRule()


@pytest.mark.parametrize(
    ("seconds", "billed", "cost"),
    [
        (3, 5, "0.10"),
        (4, 5, "0.10"),
        (5, 5, "0.10"),
        (5.9, 5, "0.10"),
        (15, 15, "0.30"),
        (60, 60, "1.20"),
        (60.99, 60, "1.20"),
        (300, 300, "6.00"),
        (600, 600, "12.00"),
        (600.5, 600, "12.00"),
    ],
)
def test_billing_reproduces_the_service_table(seconds: float, billed: int, cost: str) -> None:
    assert RULE.billed_seconds(seconds) == billed
    assert RULE.cost(seconds) == Decimal(cost)


def test_price_and_minimum_come_from_the_rule() -> None:
    rule = PriceRule(per_second=Decimal("0.022"), minimum_seconds=1)
    assert rule.billed_seconds(0.4) == 1
    assert rule.cost(100) == Decimal("2.20")


def test_a_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError):
        RULE.billed_seconds(-1)


def plan(seconds: float, fps: int = 10, keyframe_every: int = 1, **kw: Any) -> Plan:
    frames = round(seconds * fps)
    keys = range(0, frames, keyframe_every)
    return plan_segments(
        frames=frames, fps=Fraction(fps), keyframes=keys, max_seconds=600, rule=RULE, **kw
    )


@pytest.mark.parametrize("seconds", [4, 5, 5.9, 600])
def test_a_video_within_the_limit_goes_whole(seconds: float) -> None:
    result = plan(seconds)
    assert len(result.segments) == 1
    assert result.segments[0].whole
    assert result.billed_seconds == RULE.billed_seconds(seconds)


def test_600_5_seconds_is_split_in_two_billing_less_than_the_whole() -> None:
    result = plan(600.5)
    assert len(result.segments) == 2
    # 299.9 s + 300.6 s bill 299 + 300: both fractions are dropped by the floor.
    assert result.billed_seconds == 599
    assert all(s.copy for s in result.segments)


def test_601_seconds_becomes_two_balanced_halves_billing_600_not_605() -> None:
    result = plan(601)
    durations = [s.duration for s in result.segments]
    assert len(durations) == 2
    assert durations == pytest.approx([300.5, 300.5])
    assert result.billed_seconds == 600
    assert result.cost == Decimal("12.00")


def test_1201_seconds_takes_three_segments_each_within_the_limit() -> None:
    result = plan(1201)
    assert len(result.segments) == 3
    assert all(s.duration <= 600 for s in result.segments)
    assert result.billed_seconds <= 1201
    assert max(s.duration for s in result.segments) < 401


def test_segments_cover_every_frame_once() -> None:
    result = plan(1201, keyframe_every=7)
    bounds = [(s.first, s.stop) for s in result.segments]
    assert bounds[0][0] == 0
    assert bounds[-1][1] == result.frames
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))


def test_cuts_land_on_keyframes_so_they_are_stream_copies() -> None:
    result = plan(601, keyframe_every=50)  # a keyframe every 5 s
    keys = set(range(0, 6010, 50))
    assert all(s.first in keys for s in result.segments)
    assert all(s.copy for s in result.segments)


def test_keyframes_too_far_apart_force_a_re_encoded_cut() -> None:
    result = plan(700, keyframe_every=10**9)  # one keyframe, at 0
    assert len(result.segments) == 2
    assert [s.copy for s in result.segments] == [False, False]
    assert all(s.duration <= 600 for s in result.segments)


def test_a_segment_over_the_upload_size_is_cut_further() -> None:
    result = plan(300, size_bytes=3_000_000_000, max_bytes=1_000_000_000)
    assert len(result.segments) == 3
    assert all(s.duration <= 100.0 + 1e-9 for s in result.segments)


def test_a_plan_needs_frames() -> None:
    with pytest.raises(ValueError):
        plan_segments(frames=0, fps=Fraction(24), keyframes=[0], max_seconds=600, rule=RULE)
