"""Checking a result against its source (uprez.step.verify.mismatches): size reached within the
box, frame rate, frame count and duration kept, no audio stream lost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from uprez.media.probe import Probe, probe
from uprez.step.verify import mismatches

UHD = (3840, 2160)


def video(
    width: int = 1920,
    height: int = 1080,
    *,
    fps: Fraction = Fraction(24),
    frames: int = 240,
    audio: int = 1,
    duration: float | None = None,
) -> Probe:
    return Probe(
        path=f"/r/{width}x{height}.mp4",
        duration=float(frames / fps) if duration is None else duration,
        fps=fps,
        width=width,
        height=height,
        frames=frames,
        video_codec="h264",
        audio_streams=audio,
        audio_codecs=("aac",) * audio,
        subtitle_streams=0,
        size_bytes=1_000_000,
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
    )


# -- size -----------------------------------------------------------------------------------------


def test_a_result_that_fills_the_box_and_keeps_everything_else_has_no_mismatch() -> None:
    assert mismatches(video(1920, 1080), video(3840, 2160), UHD) == []


def test_a_four_by_three_source_fits_the_box_by_height_keeping_its_aspect() -> None:
    source = video(1440, 1080)

    assert mismatches(source, video(2880, 2160), UHD) == []
    assert mismatches(source, video(3840, 2160), UHD) == ["size 3840x2160, expected 2880x2160"]


def test_a_portrait_source_fills_the_box_turned_upright() -> None:
    source = video(1080, 1920)

    assert mismatches(source, video(2160, 3840), UHD) == []
    assert mismatches(source, video(3840, 2160), UHD) == ["size 3840x2160, expected 2160x3840"]


def test_a_result_left_at_the_source_size_is_a_size_mismatch() -> None:
    assert mismatches(video(1280, 720), video(1280, 720), UHD) == [
        "size 1280x720, expected 3840x2160"
    ]


def test_a_source_already_larger_than_the_box_keeps_its_size() -> None:
    assert mismatches(video(4096, 2160), video(4096, 2160), UHD) == []


def test_the_box_given_is_the_one_checked() -> None:
    assert mismatches(video(64, 36), video(256, 144), (256, 144)) == []
    assert mismatches(video(64, 36), video(3840, 2160), (256, 144)) == [
        "size 3840x2160, expected 256x144"
    ]


# -- time -----------------------------------------------------------------------------------------


def test_a_changed_frame_rate_is_a_mismatch() -> None:
    source = video(fps=Fraction(24), frames=240)
    output = video(3840, 2160, fps=Fraction(25), frames=240)

    problems = mismatches(source, output, UHD)

    assert "frame rate 25, expected 24" in problems
    assert any(p.startswith("duration 9.600 s, expected 10.000 s") for p in problems)


def test_ntsc_29_97_is_not_30() -> None:
    source = video(fps=Fraction(30000, 1001), frames=300)
    output = video(3840, 2160, fps=Fraction(30), frames=300)

    problems = mismatches(source, output, UHD)

    assert "frame rate 30, expected 30000/1001" in problems
    # 300 frames: 10.010 s against 10.000 s, less than one frame apart
    assert not any(p.startswith("duration") for p in problems)


def test_one_frame_missing_is_a_frame_count_mismatch_but_within_the_duration_tolerance() -> None:
    source = video(frames=240)

    assert mismatches(source, video(3840, 2160, frames=239), UHD) == ["239 frames, expected 240"]


def test_two_frames_missing_is_also_a_duration_mismatch() -> None:
    source = video(frames=240)

    assert mismatches(source, video(3840, 2160, frames=238), UHD) == [
        "238 frames, expected 240",
        "duration 9.917 s, expected 10.000 s",
    ]


def test_extra_frames_count_as_much_as_missing_ones() -> None:
    problems = mismatches(video(frames=240), video(3840, 2160, frames=243), UHD)

    assert problems == ["243 frames, expected 240", "duration 10.125 s, expected 10.000 s"]


def test_the_duration_is_the_video_frames_over_the_rate_not_the_container_length() -> None:
    # A container one second longer (audio running past the last frame) is not a video change.
    source = video(frames=240, duration=10.0)

    assert mismatches(source, video(3840, 2160, frames=240, duration=11.0), UHD) == []


def test_without_a_frame_rate_the_container_durations_are_compared() -> None:
    source = video(fps=Fraction(0), frames=240, duration=10.0)

    assert mismatches(source, video(3840, 2160, fps=Fraction(0), duration=10.0), UHD) == []
    assert mismatches(source, video(3840, 2160, fps=Fraction(0), duration=10.5), UHD) == [
        "duration 10.500 s, expected 10.000 s"
    ]


# -- audio ----------------------------------------------------------------------------------------


def test_a_lost_audio_stream_is_a_mismatch() -> None:
    assert mismatches(video(audio=2), video(3840, 2160, audio=1), UHD) == [
        "1 audio stream(s), expected 2"
    ]
    assert mismatches(video(audio=1), video(3840, 2160, audio=0), UHD) == [
        "0 audio stream(s), expected 1"
    ]


def test_more_audio_streams_than_the_source_are_fine() -> None:
    assert mismatches(video(audio=0), video(3840, 2160, audio=1), UHD) == []


def test_every_problem_is_reported_at_once() -> None:
    source = video(1920, 1080, fps=Fraction(24), frames=240, audio=1)
    output = replace(source, width=1920, height=1080, fps=Fraction(30), frames=120, audio_streams=0)

    problems = mismatches(source, output, UHD)

    assert [p.split()[0] for p in problems] == ["size", "frame", "120", "duration", "0"]


# -- real clips -----------------------------------------------------------------------------------


@pytest.fixture
def source_clip(make_clip: Callable[..., Path]) -> Probe:
    return probe(make_clip("src.mp4", width=64, height=36, seconds=1, fps=12, audio=True))


def test_a_real_result_of_the_right_size_rate_and_length_passes(
    source_clip: Probe, make_clip: Callable[..., Path]
) -> None:
    output = probe(make_clip("out.mp4", width=256, height=144, seconds=1, fps=12, audio=True))

    assert mismatches(source_clip, output, (256, 144)) == []


def test_a_real_result_without_sound_is_caught(
    source_clip: Probe, make_clip: Callable[..., Path]
) -> None:
    output = probe(make_clip("mute.mp4", width=256, height=144, seconds=1, fps=12, audio=False))

    assert mismatches(source_clip, output, (256, 144)) == ["0 audio stream(s), expected 1"]


def test_a_real_result_at_another_rate_is_caught(
    source_clip: Probe, make_clip: Callable[..., Path]
) -> None:
    output = probe(make_clip("fast.mp4", width=256, height=144, seconds=1, fps=24, audio=True))

    # The same second of video, in twice the frames: rate and count differ, not the length.
    assert mismatches(source_clip, output, (256, 144)) == [
        "frame rate 24, expected 12",
        "24 frames, expected 12",
    ]


def test_a_real_result_of_the_wrong_size_and_length_is_caught(
    source_clip: Probe, make_clip: Callable[..., Path]
) -> None:
    output = probe(make_clip("short.mp4", width=128, height=72, seconds=0.5, fps=12, audio=True))

    assert mismatches(source_clip, output, (256, 144)) == [
        "size 128x72, expected 256x144",
        "6 frames, expected 12",
        "duration 0.500 s, expected 1.000 s",
    ]
