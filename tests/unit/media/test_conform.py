"""The conform, file to file: the service's picture written back onto a master made on the fly.

The "service result" is what the local server would return: the master's proxy upscaled by the
twin's own scaler (H.264, 8-bit 4:2:0, no metadata).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from uprez.media.codecs import CODECS, auto_codec, output_codec
from uprez.media.conform import Conform, conform
from uprez.media.cut import cut_segment
from uprez.media.master import describe_master
from uprez.media.probe import probe
from uprez.standin.upscale import upscale_file

from masters import MASTER_TIMECODE, Track, make_master, make_prores


def service_result(master: Path, folder: Path, box: tuple[int, int] = (320, 180)) -> Path:
    """What the service would send back for ``master``: its proxy, upscaled."""
    proxy, result = folder / "proxy.mp4", folder / "result.mp4"
    cut_segment(master, proxy, 0, probe(master).frames, copy=False, crf=12)
    upscale_file(proxy, result, max_size=box)
    return result


def test_chapters_metadata_and_rotation_are_carried_over(tmp_path: Path) -> None:
    master = make_master(
        tmp_path / "m.mov",
        codec="prores_ks",
        pix_fmt="yuv422p10le",
        options={"profile": "3"},
        timecode=MASTER_TIMECODE,
        chapters=("open", "close"),
        metadata={"title": "sh010 v003", "comment": "client cut"},
        rotation=90,
    )
    out = tmp_path / "out.mov"

    lost = conform([service_result(master, tmp_path)], master, out, Conform(CODECS["prores_422hq"]))

    assert lost == []
    with av.open(str(out)) as container:
        titles = [c["metadata"].get("title") for c in container.chapters()]
        assert titles == ["open", "close"]
        assert container.metadata["title"] == "sh010 v003"
        assert container.metadata["comment"] == "client cut"
        stream = container.streams.video[0]
        assert next(container.decode(stream)).rotation == 90
    assert describe_master(out).timecode == MASTER_TIMECODE


def test_an_mp4_result_says_which_tracks_it_could_not_copy(tmp_path: Path) -> None:
    master = make_prores(tmp_path / "m.mov", seconds=0.5)
    out = tmp_path / "out.mp4"

    lost = conform([service_result(master, tmp_path)], master, out, Conform(CODECS["h264"]))

    assert len(lost) == 2 and all("re-encoded as AAC" in line for line in lost)
    after = describe_master(out)
    assert [(t.codec, t.language, t.channels) for t in after.audio] == [
        ("aac", "eng", 2),
        ("aac", "fra", 6),
    ]
    assert after.timecode == MASTER_TIMECODE
    assert after.sample_aspect_ratio == Fraction(4, 3)


def test_a_codec_without_alpha_says_the_alpha_was_lost(tmp_path: Path) -> None:
    master = make_prores(tmp_path / "fx.mov", profile="4444", alpha=True, audio=(), seconds=0.5)
    out = tmp_path / "out.mov"

    result = service_result(master, tmp_path, box=(512, 288))  # DNxHR is 256x120 at least
    lost = conform([result], master, out, Conform(CODECS["dnxhr_hqx"], alpha=True))

    assert lost == ["the master's alpha: dnxhr_hqx cannot carry it"]
    assert not describe_master(out).alpha


def test_the_frame_count_and_times_of_a_constant_rate_master_are_kept(tmp_path: Path) -> None:
    master = make_prores(tmp_path / "m.mov", seconds=1, fps=Fraction(24000, 1001))
    out = tmp_path / "out.mov"

    conform([service_result(master, tmp_path)], master, out, Conform(CODECS["prores_422hq"]))

    before, after = probe(master), probe(out)
    assert (after.frames, after.fps) == (before.frames, before.fps) == (24, Fraction(24000, 1001))
    assert abs(after.duration - before.duration) < 1 / 24


def test_copying_takes_one_joined_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one joined file"):
        conform(
            [tmp_path / "a.mp4", tmp_path / "b.mp4"],
            tmp_path / "m.mov",
            tmp_path / "o.mp4",
            Conform(CODECS["h264"]),
        )


@pytest.mark.parametrize(
    ("codec", "profile", "bits", "expected"),
    [
        ("prores", "HQ", 10, "prores_422hq"),
        ("prores", "LT", 10, "prores_lt"),
        ("prores", "4444", 12, "prores_4444"),
        ("prores", "XQ", 12, "prores_4444xq"),
        ("prores", None, 10, "prores_422hq"),
        ("dnxhd", "DNXHR HQX", 10, "dnxhr_hqx"),
        ("dnxhd", "DNXHR LB", 8, "dnxhr_lb"),
        ("dnxhd", "DNXHD", 10, "dnxhr_hqx"),  # DNxHD has no 4K: its 4K sibling
        ("dnxhd", "DNXHD", 8, "dnxhr_hq"),
        ("h264", "High 10", 10, "h264"),
        ("hevc", "Main 10", 10, "h264"),
    ],
)
def test_auto_keeps_a_mezzanine_family_and_profile(
    codec: str, profile: str | None, bits: int, expected: str
) -> None:
    assert auto_codec(codec, profile, bits).name == expected
    assert output_codec("auto", codec, profile, bits).name == expected
    assert output_codec("hevc", codec, profile, bits).name == "hevc"


def test_the_extension_follows_the_container() -> None:
    assert CODECS["prores_4444"].ext == ".mov" and CODECS["dnxhr_hq"].ext == ".mov"
    assert CODECS["h264"].ext == ".mp4" and CODECS["hevc"].ext == ".mp4"


def test_tracks_unchanged_in_a_mov_result(tmp_path: Path) -> None:
    tracks = (Track("stereo", "eng"), Track("5.1", "fra"), Track("mono", "deu", "pcm_s16le"))
    master = make_prores(tmp_path / "m.mov", seconds=0.5, audio=tracks)
    out = tmp_path / "out.mov"

    conform([service_result(master, tmp_path)], master, out, Conform(CODECS["prores_422hq"]))

    before, after = describe_master(master), describe_master(out)
    assert [(t.codec, t.layout, t.language) for t in after.audio] == [
        (t.codec, t.layout, t.language) for t in before.audio
    ]
    assert len(after.audio) == 3
