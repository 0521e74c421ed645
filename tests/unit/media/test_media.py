"""Probe, size arithmetic and local upscaling, on real files written with PyAV (nothing mocked)."""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest

from uprez.errors import MediaError
from uprez.media.geometry import fit_within, parse_size
from uprez.media.probe import probe
from uprez.media.synth import make_clip
from uprez.standin.upscale import upscale_file

SMALL_BOX = (256, 144)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s, 24 fps, 64x36 MP4 with an AAC tone, shared by the read-only tests."""
    return Path(make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4"))


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# --- probe -------------------------------------------------------------------------------------


def test_probe_reads_a_clip(clip: Path) -> None:
    info = probe(clip)
    assert info.path == str(clip)
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert info.fps == Fraction(24)
    assert info.frames == 24
    assert (info.width, info.height) == (64, 36)
    assert info.video_codec == "h264"
    assert info.audio_streams == 1
    assert info.audio_codecs == ("aac",)
    assert info.subtitle_streams == 0
    assert info.size_bytes == clip.stat().st_size
    assert "mp4" in info.format_name
    assert info.rotation == 0

    data = json.loads(json.dumps(info.to_dict()))
    assert data["fps"] == "24/1"
    assert data["frames"] == 24
    assert data["audio_codecs"] == ["aac"]


def test_probe_counts_packets_when_the_container_has_no_frame_count(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "ntsc.mkv", fps=Fraction(30000, 1001), audio=False)
    with av.open(path) as container:
        assert container.streams.video[0].frames == 0  # Matroska records no count
    info = probe(path)
    assert info.frames == 30
    assert info.fps == Fraction(30000, 1001)
    assert info.audio_streams == 0
    assert info.duration == pytest.approx(1.001, abs=0.05)


def _write_png(path: Path) -> None:
    av.VideoFrame(32, 16, "rgb24").save(str(path))


def _write_audio_only(path: Path) -> None:
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame(format="s16", layout="stereo", samples=1024)
        frame.planes[0].update(bytes(4096))
        frame.sample_rate = 48000
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _write_truncated(path: Path, clip: Path) -> None:
    path.write_bytes(clip.read_bytes()[:300])


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.mp4", None, "no such file"),
        ("folder.mp4", lambda p, c: p.mkdir(), "is a directory"),
        ("empty.mp4", lambda p, c: p.write_bytes(b""), "empty file"),
        ("truncated.mp4", _write_truncated, "could not be read as a video"),
        ("notes.mp4", lambda p, c: p.write_text("not a video\n" * 50), "could not be read"),
        ("still.png", lambda p, c: _write_png(p), "still image"),
        ("tone.m4a", lambda p, c: _write_audio_only(p), "no video stream"),
    ],
)
def test_probe_refuses_what_is_not_a_video(
    tmp_path: Path,
    clip: Path,
    name: str,
    make: Callable[[Path, Path], object] | None,
    message: str,
) -> None:
    path = tmp_path / name
    if make is not None:
        make(path, clip)
    with pytest.raises(MediaError, match=message) as caught:
        probe(path)
    assert caught.value.path == str(path)


# --- geometry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((1280, 720), (3840, 2160), (3840, 2160)),  # 16:9 fills the box
        ((1920, 1080), (3840, 2160), (3840, 2160)),
        ((720, 1280), (3840, 2160), (2160, 3840)),  # 9:16: the box turns
        ((640, 480), (3840, 2160), (2880, 2160)),  # 4:3 is bound by height
        ((480, 640), (3840, 2160), (2160, 2880)),
        ((1080, 1080), (3840, 2160), (2160, 2160)),  # square
        ((4096, 2160), (3840, 2160), (4096, 2160)),  # already bigger: kept
        ((5000, 3001), (3840, 2160), (5000, 3002)),  # ... rounded up to even
        ((3840, 2160), (3840, 2160), (3840, 2160)),  # exactly the box
        ((641, 361), (3840, 2160), (3834, 2160)),  # odd input: even output, inside the box
        ((63, 35), (256, 144), (256, 142)),
        ((64, 36), (256, 144), (256, 144)),
        ((36, 64), (256, 144), (144, 256)),
        ((1280, 720), (2160, 3840), (3840, 2160)),  # a box given portrait is the same box
        ((3839, 2159), (3840, 2160), (3840, 2160)),  # barely smaller: never below input, even
    ],
)
def test_fit_within(size: tuple[int, int], box: tuple[int, int], expected: tuple[int, int]) -> None:
    width, height = fit_within(*size, *box)
    assert (width, height) == expected
    assert width % 2 == 0 and height % 2 == 0
    assert width >= size[0] and height >= size[1]


@pytest.mark.parametrize("bad", [(0, 720), (1280, -1), (1280, 720.0)])
def test_fit_within_refuses_non_positive_sizes(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        fit_within(bad[0], bad[1], 3840, 2160)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3840x2160", (3840, 2160)), (" 1920 X 1080 ", (1920, 1080)), ("256x144", (256, 144))],
)
def test_parse_size(text: str, expected: tuple[int, int]) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text", ["", "3840", "3840x", "x2160", "3840*2160", "-1x5", "1.5x2", "0x720"]
)
def test_parse_size_errors(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


# --- upscale -----------------------------------------------------------------------------------


def test_upscale_keeps_frames_rate_and_audio(tmp_path: Path, clip: Path) -> None:
    calls: list[tuple[int, int]] = []
    out = tmp_path / "up.mp4"
    result = upscale_file(
        clip, out, max_size=SMALL_BOX, progress=lambda done, total: calls.append((done, total))
    )
    assert (result.width, result.height, result.frames) == (256, 144, 24)
    assert result.fps == Fraction(24)
    assert result.audio_streams == 1
    assert result.seconds >= 0

    info = probe(out)
    assert (info.width, info.height) == (256, 144)
    assert info.frames == 24
    assert info.fps == Fraction(24)
    assert info.video_codec == "h264"
    assert info.audio_codecs == ("aac",)
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert decoded_frames(out) == 24
    assert calls == [(n, 24) for n in range(1, 25)]


def test_upscale_turns_the_box_for_portrait_video(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "portrait.mp4", width=36, height=64, audio=False)
    out = tmp_path / "up.mp4"
    result = upscale_file(src, out, max_size=SMALL_BOX)
    info = probe(out)
    assert (result.width, result.height) == (144, 256)
    assert (info.width, info.height, info.frames) == (144, 256, 24)


def test_upscale_without_audio_stays_silent_and_keeps_an_ntsc_rate(tmp_path: Path) -> None:
    # Matroska stores millisecond timestamps; the output must still be exactly 30000/1001.
    src = make_clip(tmp_path / "silent.mkv", fps=Fraction(30000, 1001), audio=False)
    out = tmp_path / "up.mp4"
    result = upscale_file(src, out, max_size=SMALL_BOX)
    info = probe(out)
    assert result.audio_streams == 0
    assert info.audio_streams == 0
    assert info.frames == 30
    assert info.fps == Fraction(30000, 1001)


def test_upscale_reencodes_pcm_audio_as_aac(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "pcm.mov", audio_codec="pcm_s16le")
    assert probe(src).audio_codecs == ("pcm_s16le",)
    out = tmp_path / "up.mp4"
    upscale_file(src, out, max_size=SMALL_BOX)
    info = probe(out)
    assert info.audio_codecs == ("aac",)
    assert info.frames == 24
    assert info.fps == Fraction(24)


def test_upscale_keeps_the_display_rotation(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "phone.mp4", rotation=90, audio=False)
    out = tmp_path / "up.mp4"
    upscale_file(src, out, max_size=SMALL_BOX)
    info = probe(out)
    assert info.rotation == 90
    assert (info.width, info.height) == (256, 144)


def test_upscale_refuses_a_non_video(tmp_path: Path) -> None:
    src = tmp_path / "notes.mp4"
    src.write_text("not a video\n" * 50)
    out = tmp_path / "up.mp4"
    with pytest.raises(MediaError, match="could not be read"):
        upscale_file(src, out, max_size=SMALL_BOX)
    assert not out.exists()


def test_upscale_reports_an_unwritable_destination(tmp_path: Path, clip: Path) -> None:
    with pytest.raises(MediaError, match="could not upscale"):
        upscale_file(clip, tmp_path / "missing-dir" / "up.mp4", max_size=SMALL_BOX)
