"""The physical bound of a job: the ideal schedule's arithmetic, step by step."""

from __future__ import annotations

import pytest

from uprez.step.ideal import Link, Machine, Piece, Service, Source, best_time, schedule, shapes

MB = 1_000_000
FAST_DISK = Machine(cut_rate=1e12, join_rate=1e12)


def test_one_segment_is_cut_upload_submit_service_download_and_join_in_a_row() -> None:
    piece = Piece(seconds=60, up_bytes=40 * MB, down_bytes=160 * MB, join_bytes=40 * MB)
    link = Link(up=40 * MB, down=100 * MB, latency=0.05)

    timeline = schedule([piece], link, Service(speed=0.5), Machine(400 * MB, 200 * MB))

    cut = 0.1
    uploaded = cut + 2 * 0.05 + 1.0  # ticket and body: two round trips, then 40 MB at 40 MB/s
    processed = uploaded + 0.05 + 30.0  # the submit's round trip, then 0.5 s per video second
    downloaded = processed + 0.05 + 1.6
    assert timeline.uploaded[0] == pytest.approx(uploaded)
    assert timeline.processed[0] == pytest.approx(processed)
    assert timeline.downloaded[0] == pytest.approx(downloaded)
    assert timeline.end == pytest.approx(downloaded + 0.2)  # the join copies the part once


def test_uploads_share_the_uplink_one_after_another() -> None:
    pieces = [Piece(10, 50 * MB, 0, 0)] * 3

    timeline = schedule(pieces, Link(up=50 * MB, down=MB), Service(0.0, None, None), FAST_DISK)

    assert timeline.uploaded == pytest.approx((1.0, 2.0, 3.0), abs=1e-3)


def test_the_account_takes_two_submits_in_any_60_s_and_runs_two_tasks_at_once() -> None:
    pieces = [Piece(100, MB, MB, MB)] * 5
    link = Link(up=100 * MB, down=100 * MB)

    paced = schedule(pieces, link, Service(speed=0.1, per_minute=2, at_once=None), FAST_DISK)
    assert paced.submitted == pytest.approx((0.01, 0.02, 60.01, 60.02, 120.01), abs=1e-3)

    slots = schedule(pieces, link, Service(speed=1.0, per_minute=None, at_once=2), FAST_DISK)
    # two run at once; the third starts when the first ends, 100 s after it began
    assert slots.processed[2] == pytest.approx(slots.processed[0] + 100)
    assert slots.processed[4] == pytest.approx(slots.processed[0] + 200)


def test_the_shapes_weighed_fit_the_cap_and_never_bill_a_piece_under_the_minimum() -> None:
    source = Source(seconds=600, size=700 * MB, output_ratio=4)

    found = shapes(source, Service(speed=0.5))

    longest = 600 * 100 / 700
    assert min(len(lengths) for lengths in found) == 7  # the fewest the 100 MB cap allows
    for lengths in found:
        assert sum(lengths) == pytest.approx(600)
        assert max(lengths) <= longest + 1e-9
        assert min(lengths) >= 5


def test_at_bronze_the_best_schedule_ends_its_last_wave_short() -> None:
    source = Source(seconds=600, size=700 * MB, output_ratio=4)
    link = Link(up=40 * MB, down=100 * MB, latency=0.03)

    bound, timeline = best_time(source, link, Service(speed=0.5), Machine(500 * MB, 500 * MB))

    lengths = [p.seconds for p in timeline.pieces]
    assert len(lengths) == 8 and lengths[-1] < lengths[0] / 1.5  # a short last wave
    # four waves of submits 60 s apart, then the short tasks, their downloads and the join
    assert 180 < bound < 180 + 0.5 * lengths[0] + 10
