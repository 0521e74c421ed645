"""The studio-master fixtures (tests/masters.py) are what they claim, read back by PyAV alone.

Every other test of masters trusts these files; here each is probed with PyAV directly (not with
uprez's own reader): codec, profile, pixel format, timecode, audio layouts and languages, pixel
aspect, colour tags, field order, stream counts, frame timing, and pictures that move.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

from masters import (
    MASTER_TIMECODE,
    STUDIO_AUDIO,
    beep_times,
    flash_times,
    make_dnxhr,
    make_hdr,
    make_hevc10,
    make_interlaced,
    make_master,
    make_prores,
    make_prores_4444,
    make_two_videos,
    make_vfr_sync,
    picture,
    sync_times,
)

AV_FIELD_PROGRESSIVE, AV_FIELD_TT, AV_FIELD_BB = 1, 2, 3


def video_of(path: Path) -> dict[str, Any]:
    """What PyAV reads of the first video stream and the container, as plain values."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        return {
            "format": container.format.name,
            "codec": context.name,
            "profile": context.profile,
            "pix_fmt": context.format.name,
            "size": (context.width, context.height),
            "frames": sum(1 for p in container.demux(stream) if p.size),
            "sar": stream.sample_aspect_ratio,
            "colour": (
                context.color_primaries,
                context.color_trc,
                context.colorspace,
                context.color_range,
            ),
            "field_order": context.field_order,
            "videos": len(container.streams.video),
            "stream_timecode": stream.metadata.get("timecode"),
            "container": dict(container.metadata),
            "data": [dict(s.metadata) for s in container.streams.data],
        }


def audio_of(path: Path) -> list[tuple[str, str, int, str | None, int]]:
    """(codec, layout, channels, language, rate) of each audio track, in order."""
    with av.open(str(path)) as container:
        return [
            (
                s.codec_context.name,
                s.codec_context.layout.name,
                s.codec_context.channels,
                s.metadata.get("language"),
                s.rate,
            )
            for s in container.streams.audio
        ]


def lumas(path: Path, stream: int = 0) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [
            f.reformat(format="gray").to_ndarray().astype(int)
            for f in container.decode(video=stream)
        ]


# -- ProRes ----------------------------------------------------------------------------------------


def test_the_prores_master_is_422_hq_10_bit_with_timecode_two_tracks_and_4_3_pixels(
    tmp_path: Path,
) -> None:
    path = make_prores(tmp_path / "master.mov")

    video = video_of(path)
    assert (video["codec"], video["profile"], video["pix_fmt"]) == ("prores", "HQ", "yuv422p10le")
    assert video["size"] == (160, 120) and video["frames"] == 24
    assert video["sar"] == Fraction(4, 3)
    assert video["stream_timecode"] == MASTER_TIMECODE
    # MOV carries the timecode as a tmcd track: PyAV shows it as a data stream.
    [tmcd] = video["data"]
    assert tmcd["timecode"] == MASTER_TIMECODE and tmcd["handler_name"] == "TimeCodeHandler"
    assert audio_of(path) == [
        ("pcm_s24le", "stereo", 2, "eng", 48000),
        ("pcm_s24le", "5.1", 6, "fra", 48000),
    ]


@pytest.mark.parametrize(
    ("profile", "name", "pix_fmt"),
    [
        ("proxy", "Proxy", "yuv422p10le"),
        ("lt", "LT", "yuv422p10le"),
        ("standard", "Standard", "yuv422p10le"),
        ("hq", "HQ", "yuv422p10le"),
        ("4444", "4444", "yuv444p12le"),
        ("4444xq", "XQ", "yuv444p12le"),
    ],
)
def test_any_prores_profile_can_be_asked_for(
    tmp_path: Path, profile: str, name: str, pix_fmt: str
) -> None:
    path = make_prores(tmp_path / f"{profile}.mov", profile=profile, audio=(), seconds=0.25)

    video = video_of(path)
    assert (video["profile"], video["pix_fmt"], video["frames"]) == (name, pix_fmt, 6)


def test_prores_4444_carries_an_alpha_shape_that_moves(tmp_path: Path) -> None:
    path = make_prores_4444(tmp_path / "element.mov")

    video = video_of(path)
    # Written as yuva444p10le; FFmpeg decodes ProRes 4444 at 12 bits.
    assert (video["profile"], video["pix_fmt"]) == ("4444", "yuva444p12le")
    with av.open(str(path)) as container:
        alphas = [f.to_ndarray(format="rgba")[..., 3] for f in container.decode(video=0)]
    assert alphas[0].min() < 5 and alphas[0].max() > 250  # transparent ground, opaque disc
    assert not np.array_equal(alphas[0], alphas[5])
    assert audio_of(path) == []


def test_prores_4444_without_alpha_has_no_alpha_plane(tmp_path: Path) -> None:
    video = video_of(make_prores_4444(tmp_path / "plate.mov", alpha=False))

    assert (video["profile"], video["pix_fmt"]) == ("4444", "yuv444p12le")


def test_only_a_4444_profile_is_given_alpha(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="4444"):
        make_prores(tmp_path / "bad.mov", profile="hq", alpha=True)


# -- DNxHR -----------------------------------------------------------------------------------------


def test_dnxhr_hqx_in_mov_is_10_bit_422_with_timecode_and_the_studio_tracks(
    tmp_path: Path,
) -> None:
    path = make_dnxhr(tmp_path / "master.mov")

    video = video_of(path)
    assert (video["codec"], video["profile"], video["pix_fmt"]) == (
        "dnxhd",
        "DNXHR HQX",
        "yuv422p10le",
    )
    assert video["size"] == (256, 144) and video["frames"] == 24
    assert video["stream_timecode"] == MASTER_TIMECODE
    assert [layout for _, layout, _, _, _ in audio_of(path)] == ["stereo", "5.1"]


@pytest.mark.parametrize(
    ("profile", "name"),
    [("dnxhr_lb", "DNXHR LB"), ("dnxhr_sq", "DNXHR SQ"), ("dnxhr_444", "DNXHR 444")],
)
def test_other_dnxhr_profiles_can_be_asked_for(tmp_path: Path, profile: str, name: str) -> None:
    path = make_dnxhr(tmp_path / f"{profile}.mov", profile=profile, audio=(), seconds=0.25)

    assert video_of(path)["profile"] == name


def test_dnxhr_in_mxf_is_op1a_with_its_timecode(tmp_path: Path) -> None:
    path = make_dnxhr(tmp_path / "master.mxf")

    video = video_of(path)
    assert video["format"] == "mxf"
    assert (video["profile"], video["pix_fmt"], video["frames"]) == (
        "DNXHR HQX",
        "yuv422p10le",
        24,
    )
    # OP1a's label: 06.0e.2b.34.04.01.01.01.0d.01.02.01.01.01 ...
    assert video["container"]["operational_pattern_ul"].startswith(
        "060e2b34.04010101.0d010201.0101"
    )
    assert video["container"]["timecode"] == MASTER_TIMECODE
    # MXF keeps neither the language nor the channel order of a track.
    assert audio_of(path) == [("pcm_s24le", "2 channels", 2, None, 48000)]


def test_mxf_refuses_a_track_its_muxer_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two channels"):
        make_dnxhr(tmp_path / "bad.mxf", audio=STUDIO_AUDIO)


# -- HEVC, HDR, interlaced, two videos -------------------------------------------------------------


@pytest.mark.parametrize("name", ["hevc.mp4", "hevc.mkv"])
def test_hevc_is_main_10_in_420_10_bit(tmp_path: Path, name: str) -> None:
    path = make_hevc10(tmp_path / name)

    video = video_of(path)
    assert (video["codec"], video["profile"], video["pix_fmt"]) == (
        "hevc",
        "Main 10",
        "yuv420p10le",
    )
    assert video["frames"] == 24
    assert audio_of(path) == [("aac", "stereo", 2, "eng", 48000)]


@pytest.mark.parametrize(
    ("transfer", "trc"), [("pq", ColorTrc.SMPTE2084), ("hlg", ColorTrc.ARIB_STD_B67)]
)
def test_hdr_clips_are_tagged_bt2020_with_their_transfer(
    tmp_path: Path, transfer: str, trc: ColorTrc
) -> None:
    video = video_of(make_hdr(tmp_path / f"{transfer}.mp4", transfer=transfer))

    assert video["colour"] == (ColorPrimaries.BT2020, trc, Colorspace.BT2020, ColorRange.MPEG)
    assert video["pix_fmt"] == "yuv420p10le"


@pytest.mark.parametrize(("order", "field"), [("tt", AV_FIELD_TT), ("bb", AV_FIELD_BB)])
def test_interlaced_clips_say_which_field_comes_first(
    tmp_path: Path, order: str, field: int
) -> None:
    path = make_interlaced(tmp_path / "fields.mp4", field_order=order)

    assert video_of(path)["field_order"] == field
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).interlaced_frame


def test_a_plain_clip_is_progressive(tmp_path: Path) -> None:
    path = make_master(tmp_path / "plain.mp4", codec="libx264", pix_fmt="yuv420p")

    assert video_of(path)["field_order"] == AV_FIELD_PROGRESSIVE


def test_two_video_streams_hold_different_pictures(tmp_path: Path) -> None:
    path = make_two_videos(tmp_path / "pair.mp4")

    assert video_of(path)["videos"] == 2
    first, second = lumas(path, 0), lumas(path, 1)
    assert len(first) == len(second) == 24
    assert np.abs(first[0] - second[0]).mean() > 10


# -- pictures --------------------------------------------------------------------------------------


def test_the_pattern_moves_and_variants_differ(tmp_path: Path) -> None:
    frames = lumas(make_master(tmp_path / "a.mp4", codec="libx264", pix_fmt="yuv420p"))
    other = lumas(make_master(tmp_path / "b.mp4", codec="libx264", pix_fmt="yuv420p", variant=1))

    assert all(np.abs(a - b).mean() > 2 for a, b in itertools.pairwise(frames))
    assert np.abs(frames[0] - other[0]).mean() > 10
    assert picture(160, 120, 0).max() <= 220  # room for a flash to stand out


# -- the VFR sync clip -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sync.mp4", "sync.mkv"])
def test_the_vfr_clip_has_uneven_frame_times(tmp_path: Path, name: str) -> None:
    path = make_vfr_sync(tmp_path / name)

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = sorted(p.pts for p in container.demux(stream) if p.size)
        base = stream.time_base
    durations = {float(d * base) for d in np.diff(pts)}
    assert len(pts) == 75  # 25 frames a second for 3 s
    # 1/30 s and 1/20 s frames (Matroska rounds to milliseconds: 0.033, 0.034 and 0.05).
    assert min(durations) == pytest.approx(1 / 30, abs=0.001)
    assert max(durations) == pytest.approx(1 / 20, abs=0.001)


@pytest.mark.parametrize("name", ["sync.mp4", "sync.mkv"])
def test_the_vfr_clip_flashes_and_beeps_together_every_second(tmp_path: Path, name: str) -> None:
    path = make_vfr_sync(tmp_path / name)

    assert sync_times(3) == [0.5, 1.5, 2.5]
    assert flash_times(path) == pytest.approx(sync_times(3), abs=0.001)
    assert beep_times(path) == pytest.approx(sync_times(3), abs=0.001)


def test_a_steady_tone_is_one_sound_and_a_pattern_no_flash(tmp_path: Path) -> None:
    from uprez.media.synth import make_clip

    path = tmp_path / "tone.mp4"
    make_clip(path, seconds=1, audio=True)  # a steady tone, never quiet

    assert flash_times(path) == []
    [start] = beep_times(path)
    assert start < 0.05


def test_chapters_metadata_and_rotation_are_written_when_asked(tmp_path: Path) -> None:
    path = make_master(
        tmp_path / "reel.mov",
        codec="libx264",
        pix_fmt="yuv420p",
        chapters=["Open", "Close"],
        metadata={"title": "Reel 1"},
        rotation=90,
    )

    with av.open(str(path)) as container:
        chapters = container.chapters()
        assert [c["metadata"]["title"] for c in chapters] == ["Open", "Close"]
        assert float(chapters[1]["start"] * chapters[1]["time_base"]) == pytest.approx(0.5)
        assert container.metadata["title"] == "Reel 1"
        assert next(container.decode(video=0)).rotation == 90
