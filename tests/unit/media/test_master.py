"""describe_master tells a conform what to keep and the admission what to judge; refusals says,
one line a reason, what uprez will not spend on. Every file here is a real master made by PyAV
(tests/masters.py)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

from uprez.config import load_config
from uprez.config.sections import MasterSection
from uprez.errors import MediaError
from uprez.media.master import AudioTrack, Master, describe_master, probe_master, refusals
from uprez.media.probe import probe
from uprez.media.synth import make_clip

from masters import (
    MASTER_TIMECODE,
    make_dnxhr,
    make_hdr,
    make_hevc10,
    make_interlaced,
    make_master,
    make_prores,
    make_prores_4444,
    make_two_videos,
    make_vfr_sync,
)

#: The defaults: HDR, VFR (converted) and alpha (upscaled) need no refusal but HDR's.
DEFAULTS = load_config(env={}).master
#: Everything that can be allowed, allowed.
LENIENT = MasterSection(hdr="send", vfr="convert", alpha="upscale")
#: Everything that can be refused, refused.
STRICT = MasterSection(hdr="refuse", vfr="refuse", alpha="refuse")


def plain_h264(folder: Path, name: str = "export.mp4") -> Path:
    path = folder / name
    make_clip(path, seconds=1, fps=24, width=64, height=36, audio=True)
    return path


# -- what a master is ------------------------------------------------------------------------------


def test_a_prores_hq_master_is_described_whole(tmp_path: Path) -> None:
    master = describe_master(make_prores(tmp_path / "master.mov"))

    assert "mov" in master.format_name.split(",")
    assert (master.codec, master.profile, master.pix_fmt) == ("prores", "HQ", "yuv422p10le")
    assert (master.bit_depth, master.alpha) == (10, False)
    assert (master.width, master.height) == (160, 120)
    assert master.sample_aspect_ratio == Fraction(4, 3)
    assert master.timecode == MASTER_TIMECODE
    assert master.field_order == "progressive"
    assert (master.video_streams, master.vfr, master.fps) == (1, False, Fraction(24))
    assert master.audio == (
        AudioTrack(1, "pcm_s24le", 2, "stereo", "eng", 48000),
        AudioTrack(2, "pcm_s24le", 6, "5.1", "fra", 48000),
    )
    assert (master.rotation, master.chapters) == (0, 0)
    assert master.metadata["major_brand"] == "qt  "
    assert master.mezzanine and not master.service_ready
    assert not (master.hdr or master.interlaced)
    assert refusals(master, STRICT) == []


def test_a_prores_4444_with_alpha_says_so_and_is_refused_only_when_configured(
    tmp_path: Path,
) -> None:
    master = describe_master(make_prores_4444(tmp_path / "element.mov"))

    assert (master.profile, master.pix_fmt, master.bit_depth) == ("4444", "yuva444p12le", 12)
    assert master.alpha and master.mezzanine
    assert refusals(master, LENIENT) == []
    [line] = refusals(master, STRICT)
    assert line.startswith("alpha (yuva444p12le)") and 'master.alpha = "refuse"' in line


def test_a_prores_4444_without_alpha_has_none(tmp_path: Path) -> None:
    master = describe_master(make_prores_4444(tmp_path / "plate.mov", alpha=False))

    assert (master.pix_fmt, master.alpha) == ("yuv444p12le", False)
    assert refusals(master, STRICT) == []


def test_dnxhr_in_mov_keeps_its_profile_name_and_tracks(tmp_path: Path) -> None:
    master = describe_master(make_dnxhr(tmp_path / "master.mov"))

    assert (master.codec, master.profile, master.bit_depth) == ("dnxhd", "DNXHR HQX", 10)
    assert master.mezzanine and master.timecode == MASTER_TIMECODE
    assert [(t.layout, t.language) for t in master.audio] == [("stereo", "eng"), ("5.1", "fra")]


def test_dnxhr_in_mxf_takes_its_timecode_from_the_container(tmp_path: Path) -> None:
    master = describe_master(make_dnxhr(tmp_path / "master.mxf", timecode="10:00:00:00"))

    assert master.format_name == "mxf"
    assert master.timecode == "10:00:00:00"
    assert master.audio == (AudioTrack(1, "pcm_s24le", 2, "2 channels", None, 48000),)
    assert not master.vfr  # judged from its packets: MXF has no sample tables
    assert not master.service_ready


@pytest.mark.parametrize("name", ["hevc.mp4", "hevc.mkv"])
def test_10_bit_hevc_is_no_mezzanine_and_goes_as_a_proxy(tmp_path: Path, name: str) -> None:
    master = describe_master(make_hevc10(tmp_path / name))

    assert (master.codec, master.profile, master.bit_depth) == ("hevc", "Main 10", 10)
    assert not master.mezzanine and not master.service_ready
    assert master.audio[0].codec == "aac"
    assert refusals(master, STRICT) == []


def test_a_plain_h264_mp4_is_what_the_service_takes_as_it_is(tmp_path: Path) -> None:
    master = describe_master(plain_h264(tmp_path))

    assert (master.codec, master.pix_fmt, master.bit_depth) == ("h264", "yuv420p", 8)
    assert master.service_ready and not master.mezzanine
    assert (master.timecode, master.sample_aspect_ratio) == (None, 1)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("export.mkv", {}),  # not MP4 or MOV
        ("deep.mp4", {"pix_fmt": "yuv420p10le"}),  # 10-bit H.264
        ("full.mp4", {"pix_fmt": "yuv444p"}),  # 4:4:4
    ],
)
def test_anything_but_8_bit_420_h264_in_mp4_is_not_service_ready(
    tmp_path: Path, name: str, options: dict[str, str]
) -> None:
    kind = {"codec": "libx264", "pix_fmt": "yuv420p", **options}
    master = describe_master(make_master(tmp_path / name, **kind))  # type: ignore[arg-type]

    assert master.codec == "h264"
    assert not master.service_ready


def test_chapters_metadata_and_rotation_are_read(tmp_path: Path) -> None:
    path = make_master(
        tmp_path / "reel.mov",
        codec="libx264",
        pix_fmt="yuv420p",
        chapters=["Open", "Middle", "Close"],
        metadata={"title": "Reel 1"},
        rotation=90,
    )

    master = describe_master(path)

    assert (master.chapters, master.rotation) == (3, 90)
    assert master.metadata["title"] == "Reel 1"


def test_probe_master_gives_the_probe_and_the_master_of_one_opening(tmp_path: Path) -> None:
    path = make_master(tmp_path / "turned.mkv", codec="libx264", pix_fmt="yuv420p", rotation=90)

    info, master = probe_master(path)

    assert info == probe(path)
    assert info.frames == 24  # Matroska records no count: the frames were counted
    assert master == describe_master(path)
    assert master.rotation == info.rotation == 90


def test_cover_art_is_not_a_second_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "with_cover.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=24)
        cover = out.add_stream("mjpeg", rate=1)
        assert isinstance(video, av.VideoStream) and isinstance(cover, av.VideoStream)
        video.width, video.height, video.pix_fmt = 64, 36, "yuv420p"
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        out.mux(cover.encode(av.VideoFrame(32, 32, "yuvj420p")))
        out.mux(cover.encode(None))
        for index in range(6):
            frame = av.VideoFrame(64, 36, "yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 24)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))

    master = describe_master(path)

    assert master.video_streams == 1
    assert refusals(master, STRICT) == []


def test_the_json_record_is_plain_json(tmp_path: Path) -> None:
    record = describe_master(make_prores(tmp_path / "master.mov")).to_json()

    again = json.loads(json.dumps(record))
    assert again["sample_aspect_ratio"] == "4/3" and again["fps"] == "24/1"
    assert again["audio"][1]["layout"] == "5.1" and again["timecode"] == MASTER_TIMECODE


# -- colour ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transfer", "name", "kind"), [("pq", "smpte2084", "PQ"), ("hlg", "arib-std-b67", "HLG")]
)
def test_hdr_is_refused_unless_configured_to_be_sent(
    tmp_path: Path, transfer: str, name: str, kind: str
) -> None:
    master = describe_master(make_hdr(tmp_path / f"{transfer}.mp4", transfer=transfer))

    assert (master.color_primaries, master.color_transfer) == ("bt2020", name)
    assert (master.color_matrix, master.color_range) == ("bt2020nc", "tv")
    assert master.hdr
    [line] = refusals(master, DEFAULTS)
    assert line.startswith(f"HDR ({kind}, transfer {name})")
    assert 'master.hdr = "send"' in line
    assert refusals(master, LENIENT) == []


def test_colour_codes_are_the_numbers_an_encoder_takes(tmp_path: Path) -> None:
    master = describe_master(make_hdr(tmp_path / "pq.mp4"))

    assert master.color_codes() == {
        "color_primaries": ColorPrimaries.BT2020,
        "color_trc": ColorTrc.SMPTE2084,
        "colorspace": Colorspace.BT2020,
        "color_range": ColorRange.MPEG,
    }


def test_an_sdr_bt709_clip_is_named_so_and_an_untagged_one_says_nothing(tmp_path: Path) -> None:
    bt709 = {"color_primaries": 1, "color_trc": 1, "colorspace": 1, "color_range": 1}
    tagged = make_master(tmp_path / "a.mp4", codec="libx264", pix_fmt="yuv420p", colour=bt709)

    master = describe_master(tagged)
    bare = describe_master(plain_h264(tmp_path))

    assert (master.color_primaries, master.color_transfer, master.color_matrix) == (
        "bt709",
        "bt709",
        "bt709",
    )
    assert not master.hdr
    assert bare.color_codes() == {}
    assert (bare.color_primaries, bare.color_transfer, bare.color_matrix) == (None, None, None)


# -- the refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["tt", "bb"])
def test_an_interlaced_clip_is_always_refused_with_advice_to_deinterlace(
    tmp_path: Path, order: str
) -> None:
    master = describe_master(make_interlaced(tmp_path / "fields.mp4", field_order=order))

    assert master.field_order == order and master.interlaced
    [line] = refusals(master, LENIENT)
    assert line.startswith(f"interlaced (field order {order})")
    assert "deinterlace it in the export" in line


def test_two_video_streams_are_refused(tmp_path: Path) -> None:
    master = describe_master(make_two_videos(tmp_path / "pair.mp4"))

    assert master.video_streams == 2
    [line] = refusals(master, LENIENT)
    assert line.startswith("2 video streams")


def test_each_reason_is_a_line_of_its_own(tmp_path: Path) -> None:
    pq = {"color_primaries": 9, "color_trc": 16, "colorspace": 9, "color_range": 1}
    master = describe_master(make_interlaced(tmp_path / "both.mp4", colour=pq, extra_videos=1))

    lines = refusals(master, STRICT)

    assert [line.split(" ")[0] for line in lines] == ["HDR", "interlaced", "2"]
    assert all("\n" not in line for line in lines)


@pytest.mark.parametrize("name", ["sync.mp4", "sync.mkv"])
def test_a_variable_frame_rate_is_found_and_refused_only_when_configured(
    tmp_path: Path, name: str
) -> None:
    master = describe_master(make_vfr_sync(tmp_path / name))

    assert master.vfr and not master.service_ready
    assert refusals(master, LENIENT) == []
    [line] = refusals(master, STRICT)
    assert line.startswith("a variable frame rate") and 'master.vfr = "refuse"' in line


@pytest.mark.parametrize("name", ["ntsc.mkv", "ntsc.mp4"])
def test_29_97_rounded_to_the_time_base_is_a_constant_rate(tmp_path: Path, name: str) -> None:
    # Matroska keeps milliseconds: frames last 33 or 34 of them, a rounding, not a variation.
    path = make_master(
        tmp_path / name, codec="libx264", pix_fmt="yuv420p", fps=Fraction(30000, 1001)
    )

    master = describe_master(path)

    assert not master.vfr
    assert master.fps == Fraction(30000, 1001)


# -- bad files -------------------------------------------------------------------------------------


def test_a_file_that_is_not_a_video_raises_media_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")

    with pytest.raises(MediaError, match=r"notes\.mp4"):
        describe_master(path)
    with pytest.raises(MediaError, match="no such file"):
        describe_master(tmp_path / "missing.mov")


def test_master_is_a_frozen_record(tmp_path: Path) -> None:
    master = describe_master(plain_h264(tmp_path))

    with pytest.raises(AttributeError):
        master.codec = "prores"  # type: ignore[misc]
    assert isinstance(master, Master) and hash(master)
