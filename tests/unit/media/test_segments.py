"""Keyframes, segment cutting and joining, on real tiny clips written with PyAV (nothing mocked).

The clips here are written by :func:`write_clip` rather than ``uprez.media.synth.make_clip``,
which cannot set a GOP, force B-frames, mark frames by brightness or put clicks in the sound.
"""

from __future__ import annotations

import array
import logging
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.subtitles.stream import SubtitleStream
from av.subtitles.subtitle import SubtitleSet

from uprez.errors import MediaError
from uprez.media.join import Unlike
from uprez.media.keyframes import Keyframe, forget_indexes, frame_times, index_video, keyframes
from uprez.media.probe import probe
from uprez.media.segments import concat_with_source_audio, cut_segment, join_as_they_come

FPS = 4
FRAMES = 40  # 10 s
GOP = 8  # a keyframe every 2 s
CLICKS = (1.0, 3.0, 5.0)
RATE = 16_000
MP4_FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"
STEP = 5  # luma added per frame: frame i is a flat picture of luma 16 + 5 * i
# x264's defaults, with B-frames forced on (the flat test pictures would not pick any) and
# no scene-cut keyframes, so the GOP is exactly GOP frames.
X264 = f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=2:b-adapt=0"
ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize\n"
    b"Style: Default,Arial,16\n\n[Events]\nFormat: Layer, Start, End, Style, Text\n"
)


def write_clip(
    path: Path,
    *,
    frames: int = FRAMES,
    size: tuple[int, int] = (32, 18),
    audio_codec: str | None = "aac",
    subtitles: Sequence[tuple[float, str]] = (),
    x264: str = X264,
) -> Path:
    """A clip at FPS with a keyframe every GOP frames, B-frames, frame i at luma 16 + STEP * i,
    and mono sound that is silent but for a short full-scale click at each of CLICKS."""
    width, height = size
    with av.open(str(path), "w", format="matroska" if path.suffix == ".mkv" else "mp4") as out:
        video = out.add_stream("libx264", rate=FPS, options={"x264-params": x264})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = GOP
        sound = out.add_stream(audio_codec, rate=RATE) if audio_codec else None
        if isinstance(sound, av.AudioStream):
            sound.layout = "mono"
        text = out.add_stream("subrip") if subtitles else None
        if isinstance(text, SubtitleStream):
            text.codec_context.subtitle_header = ASS_HEADER
            text.time_base = Fraction(1, 1000)
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, value in zip(frame.planes, (16 + STEP * i, 128, 128), strict=True):
                plane.update(bytes([value]) * plane.buffer_size)
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if isinstance(sound, av.AudioStream):
            samples = array.array("h", bytes(2 * frames * RATE // FPS))
            for click in CLICKS:
                start = round(click * RATE)
                if start + 16 <= len(samples):
                    samples[start : start + 16] = array.array("h", [32767, -32767] * 8)
            for start in range(0, len(samples), 1024):
                chunk = samples[start : start + 1024]
                block = av.AudioFrame(format="s16", layout="mono", samples=len(chunk))
                block.planes[0].update(chunk.tobytes())
                block.sample_rate, block.pts, block.time_base = RATE, start, Fraction(1, RATE)
                out.mux(sound.encode(block))
            out.mux(sound.encode(None))
        for n, (when, line) in enumerate(subtitles):
            assert isinstance(text, SubtitleStream)
            dialogue = f"{n},0,Default,,0,0,0,,{line}".encode()  # ASS: ReadOrder,Layer,...,Text
            cue = SubtitleSet.create(dialogue, 0, 500, pts=round(when * 1000))
            packet = text.codec_context.encode_subtitle(cue)
            packet.stream, packet.time_base = text, Fraction(1, 1000)
            out.mux(packet)
    return path


def lumas(path: Path) -> list[float]:
    """The mean luma of every decoded frame, in display order."""
    means = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            plane = frame.planes[0]
            data = bytes(plane)
            rows = (
                data[y * plane.line_size : y * plane.line_size + plane.width]
                for y in range(plane.height)
            )
            means.append(sum(sum(row) for row in rows) / (plane.width * plane.height))
    return means


def expected_lumas(first: int, stop: int) -> list[float]:
    return [16.0 + STEP * i for i in range(first, stop)]


def click_times(path: Path) -> list[float]:
    """When each loud burst in the first audio stream starts, in seconds."""
    found: list[float] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            assert frame.pts is not None and frame.time_base is not None
            start = float(frame.pts * frame.time_base)
            values = array.array("f", bytes(frame.planes[0]))[: frame.samples]
            for k, value in enumerate(values):
                when = start + k / frame.sample_rate
                if abs(value) > 0.5 and (not found or when - found[-1] > 0.5):
                    found.append(when)
    return found


@pytest.fixture(scope="module", params=["mp4", "mkv"])
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test clip as MP4 and as Matroska (whose B-frame packets come without a dts)."""
    return write_clip(tmp_path_factory.mktemp("src") / f"source.{request.param}")


# --- keyframes ---------------------------------------------------------------------------------


def test_keyframes_follow_the_gop(source: Path) -> None:
    assert keyframes(source) == [Keyframe(index=i, time=i / FPS) for i in range(0, FRAMES, GOP)]
    assert frame_times(source) == [i / FPS for i in range(FRAMES)]
    index = index_video(source)
    assert index.frames == FRAMES
    assert index.reorder_delay > 0  # the source really has B-frames


def test_open_gop_keyframes_are_not_cut_points(tmp_path: Path) -> None:
    """x264's open GOPs start with an I-frame that frames shown before it depend on."""
    clip = write_clip(tmp_path / "open.mp4", audio_codec=None, x264=X264 + ":open-gop=1")
    index = index_video(clip)
    assert keyframes(clip) == [Keyframe(0, 0.0)]
    assert index.random_access == tuple(range(0, FRAMES, GOP))
    with pytest.raises(ValueError, match="keyframe"):
        cut_segment(clip, tmp_path / "copy.mp4", 8, 16, copy=True, index=index)
    out = tmp_path / "x264.mp4"
    assert cut_segment(clip, out, 10, 20, copy=False, index=index) == 10
    assert lumas(out) == pytest.approx(expected_lumas(10, 20), abs=1.5)


def test_keyframes_of_unreadable_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    for path in (text, tmp_path / "missing.mp4"):
        with pytest.raises(MediaError):
            keyframes(path)


# --- cutting -----------------------------------------------------------------------------------


def check_segment(path: Path, first: int, stop: int) -> None:
    info = probe(path)
    assert info.frames == stop - first
    assert info.fps == FPS
    assert info.duration == pytest.approx((stop - first) / FPS, abs=1e-3)
    assert (info.audio_streams, info.subtitle_streams) == (0, 0)
    assert lumas(path) == pytest.approx(expected_lumas(first, stop), abs=1.5)
    assert keyframes(path)[0] == Keyframe(0, 0.0)


@pytest.mark.parametrize(("first", "stop"), [(0, 8), (8, 24), (32, FRAMES)])
def test_copy_cut_at_keyframes(source: Path, tmp_path: Path, first: int, stop: int) -> None:
    out = tmp_path / "copy.mp4"
    assert cut_segment(source, out, first, stop, copy=True) == stop - first
    check_segment(out, first, stop)
    with av.open(str(out)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    assert packets[0].pts == 0 and packets[0].dts is not None and packets[0].dts < 0  # B-frames
    assert all(p.dts is not None and p.pts is not None and p.dts <= p.pts for p in packets)


@pytest.mark.parametrize(("first", "stop"), [(3, 4), (5, 13), (13, FRAMES)])
def test_reencode_cut_anywhere(source: Path, tmp_path: Path, first: int, stop: int) -> None:
    out = tmp_path / "x264.mp4"
    assert cut_segment(source, out, first, stop, copy=False, crf=10) == stop - first
    check_segment(out, first, stop)


def test_copy_needs_keyframes(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match="keyframe"):
        cut_segment(source, out, 3, 16, copy=True)
    with pytest.raises(ValueError, match="keyframe"):
        cut_segment(source, out, 8, 12, copy=True)
    with pytest.raises(ValueError):
        cut_segment(source, out, 8, 8, copy=False)
    with pytest.raises(ValueError):
        cut_segment(source, out, 0, FRAMES + 1, copy=False)


# --- joining -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def merged(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source cut in 4 (copy, re-encode, re-encode, copy) and joined again.

    The re-encoded parts use different x264 presets: "ultrafast" codes without CABAC, so its
    slices cannot be decoded with the parameter sets of the others.
    """
    folder, index = tmp_path_factory.mktemp("merge"), index_video(source)
    plan = [(0, 8, None), (8, 13, "ultrafast"), (13, 24, "veryfast"), (24, FRAMES, None)]
    parts = []
    for n, (first, stop, preset) in enumerate(plan):
        parts.append(folder / f"part{n}.mp4")
        if preset:
            cut_segment(
                source, parts[-1], first, stop, copy=False, crf=10, preset=preset, index=index
            )
        else:
            cut_segment(source, parts[-1], first, stop, copy=True, index=index)
    out = folder / "merged.mp4"
    assert concat_with_source_audio(parts, source, out, fps=Fraction(FPS)) == FRAMES
    return out


def test_merge_gives_back_the_source(source: Path, merged: Path) -> None:
    before, after = probe(source), probe(merged)
    assert after.frames == before.frames == FRAMES
    assert after.fps == before.fps
    assert after.duration == pytest.approx(before.duration, abs=1 / FPS)
    assert after.audio_codecs == before.audio_codecs == ("aac",)
    assert frame_times(merged) == [i / FPS for i in range(FRAMES)]


def test_merge_loses_and_repeats_no_frame(merged: Path) -> None:
    assert lumas(merged) == pytest.approx(expected_lumas(0, FRAMES), abs=1.5)


def test_merge_keeps_the_sound_in_sync(source: Path, merged: Path) -> None:
    assert click_times(source) == pytest.approx(CLICKS, abs=0.01)
    assert click_times(merged) == pytest.approx(CLICKS, abs=0.01)


def test_concat_restores_sound_to_one_file(source: Path, tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    cut_segment(source, silent, 0, FRAMES, copy=False)
    out = tmp_path / "restored.mp4.part"  # MP4 whatever the name
    assert concat_with_source_audio([silent], source, out, fps=Fraction(FPS)) == FRAMES
    info = probe(out)
    assert (info.audio_codecs, info.frames, info.format_name) == (("aac",), FRAMES, MP4_FORMAT)
    assert click_times(out) == pytest.approx(CLICKS, abs=0.01)


def test_concat_converts_sound_and_text_for_mp4(tmp_path: Path) -> None:
    lines = [(0.5, "Hello"), (2.25, "World")]
    mkv = write_clip(tmp_path / "src.mkv", frames=16, audio_codec="pcm_s16le", subtitles=lines)
    out = tmp_path / "joined.mp4"
    assert concat_with_source_audio([mkv], mkv, out, fps=Fraction(FPS)) == 16
    info = probe(out)
    assert (info.audio_codecs, info.subtitle_streams) == (("aac",), 1)
    assert click_times(out) == pytest.approx(CLICKS[:2], abs=0.01)  # 4 s: two of the clicks
    with av.open(str(out)) as container:
        stream = container.streams.subtitles[0]
        assert stream.codec_context.name == "mov_text"
        samples = [(p.pts, p.time_base, bytes(p)) for p in container.demux(stream) if p.size]
    # MP4 fills the gaps between cues with empty ones (a bare 2-byte length).
    cues = [(pts * base, data) for pts, base, data in samples if pts is not None and len(data) > 2]
    assert [when for when, _ in cues] == pytest.approx([0.5, 2.25])
    assert b"Hello" in cues[0][1] and b"World" in cues[1][1]


def test_concat_refuses_parts_of_another_size(source: Path, tmp_path: Path) -> None:
    small = tmp_path / "small.mp4"
    cut_segment(source, small, 0, 8, copy=True)
    big = write_clip(tmp_path / "big.mp4", frames=8, size=(64, 36), audio_codec=None)
    with pytest.raises(MediaError, match="64x36"):
        concat_with_source_audio([small, big], source, tmp_path / "x.mp4", fps=Fraction(FPS))


def test_parts_joined_as_they_come_make_the_file_the_whole_join_makes(
    source: Path, tmp_path: Path
) -> None:
    index = index_video(source)
    parts = [tmp_path / f"part{n}.mp4" for n in range(3)]
    for part, (first, stop) in zip(parts, [(0, 8), (8, 24), (24, FRAMES)], strict=True):
        cut_segment(source, part, first, stop, copy=True, index=index)
    arrived: list[Path] = []

    def arriving() -> Iterator[Path]:  # as downloads end: each part asked for only when due
        for part in parts:
            arrived.append(part)
            yield part

    early, whole = tmp_path / "early.mp4", tmp_path / "whole.mp4"
    assert join_as_they_come(arriving(), source, early, fps=Fraction(FPS)) == FRAMES
    assert concat_with_source_audio(parts, source, whole, fps=Fraction(FPS)) == FRAMES

    assert arrived == parts
    assert _packets_of(early) == _packets_of(whole)
    assert frame_times(early) == [i / FPS for i in range(FRAMES)]
    assert click_times(early) == pytest.approx(CLICKS, abs=0.01)


def test_a_part_unlike_the_first_stops_a_join_as_they_come(source: Path, tmp_path: Path) -> None:
    # a part encoded with other settings needs its parameter sets in-band, which the parts
    # already written do not carry: the whole join, once all are here, does it
    index = index_video(source)
    first, other = tmp_path / "first.mp4", tmp_path / "other.mp4"
    cut_segment(source, first, 0, 8, copy=True, index=index)
    cut_segment(source, other, 8, 16, copy=False, crf=10, preset="ultrafast", index=index)

    with pytest.raises(Unlike, match=r"other\.mp4"):
        join_as_they_come(iter([first, other]), source, tmp_path / "x.mp4", fps=Fraction(FPS))


def test_an_unchanged_file_is_indexed_once_and_a_rewritten_one_again(tmp_path: Path) -> None:
    from uprez.media import keyframes as module
    from uprez.media.synth import make_clip

    path = tmp_path / "long.mp4"
    make_clip(path, seconds=2, fps=12, width=64, height=36, audio=False)
    first = index_video(path)
    hits = module._cached_index.cache_info().hits

    again = index_video(path)

    assert again is first  # the plan and the cuts share one read of the source
    assert module._cached_index.cache_info().hits == hits + 1
    make_clip(path, seconds=3, fps=12, width=64, height=36, audio=False)  # a new export
    assert index_video(path).frames == 36


# --- how a join numbers the parts' frames ------------------------------------------------------


def write_uneven_clip(path: Path, frames: int, steady: int) -> Path:
    """A silent clip whose first ``steady`` frames are 1/FPS apart and the rest, alternately,
    a little late: a variable frame rate, with B-frames, frame i at luma 16 + i % 200."""
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS, options={"x264-params": X264})
        video.width, video.height, video.pix_fmt = 32, 18, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        for i in range(frames):
            frame = av.VideoFrame(32, 18, "yuv420p")
            for plane, value in zip(frame.planes, (16 + i % 200, 128, 128), strict=True):
                plane.update(bytes([value]) * plane.buffer_size)
            frame.pts = i * 1000 // FPS + (0 if i < steady else 40 * (i % 2))
            frame.time_base = Fraction(1, 1000)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def test_steady_parts_are_joined_without_an_index(
    source: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    parts = [tmp_path / f"part{n}.mp4" for n in range(3)]
    for part, (first, stop) in zip(parts, [(0, 8), (8, 24), (24, FRAMES)], strict=True):
        cut_segment(source, part, first, stop, copy=True)
    out = tmp_path / "joined.mp4"

    with caplog.at_level(logging.INFO, logger="uprez.media.segments"):
        assert concat_with_source_audio(parts, source, out, fps=Fraction(FPS)) == FRAMES

    assert "full index" not in caplog.text  # each part was read once
    assert frame_times(out) == [i / FPS for i in range(FRAMES)]
    assert lumas(out) == pytest.approx(expected_lumas(0, FRAMES), abs=1.5)
    assert click_times(out) == pytest.approx(CLICKS, abs=0.01)


@pytest.mark.parametrize("steady", [0, 150], ids=["uneven-from-the-start", "uneven-late"])
def test_a_part_at_a_varying_rate_is_joined_from_its_index(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, steady: int
) -> None:
    # Late: past the packets read ahead, so the join is found wrong half-written and redone.
    frames = 160
    part = write_uneven_clip(tmp_path / "uneven.mp4", frames, steady)
    out = tmp_path / "joined.mp4"

    with caplog.at_level(logging.INFO, logger="uprez.media.segments"):
        assert concat_with_source_audio([part], part, out, fps=Fraction(FPS)) == frames

    assert "full index" in caplog.text
    assert frame_times(out) == [i / FPS for i in range(frames)]
    assert lumas(out) == pytest.approx(lumas(part), abs=1.5)
    assert probe(out).frames == frames


def _packets_of(path: Path) -> list[tuple[int, bool, int]]:
    """(pts, is_keyframe, bytes) of every video packet, read the slow way."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (int(p.pts if p.pts is not None else p.dts), bool(p.is_keyframe), int(p.size))
            for p in container.demux(stream)
            if p.size
        ]


@pytest.mark.parametrize(
    "name, options",
    [
        ("silent.mp4", {"audio_codec": None}),
        ("bframes_and_sound.mp4", {}),
        ("wider.mp4", {"size": (64, 36)}),
    ],
)
def test_an_mp4s_sample_tables_give_the_packets_timestamps(
    tmp_path: Path, name: str, options: dict[str, object]
) -> None:
    from uprez.media.mp4index import sample_table

    path = tmp_path / name
    write_clip(path, **options)  # type: ignore[arg-type]

    listed = sample_table(str(path), 0)

    assert listed == _packets_of(path)  # B-frames and edit list included
    forget_indexes()
    index = index_video(path)
    assert index.pts == tuple(sorted(p for p, _, _ in _packets_of(path)))
    # each frame's bytes in presentation order: what planning by the upload cap adds up
    assert index.sizes == tuple(size for _, _, size in sorted(_packets_of(path)))


def test_sample_tables_are_not_read_from_matroska_or_a_track_that_is_not_video(
    tmp_path: Path,
) -> None:
    from uprez.media.mp4index import sample_table
    from uprez.media.synth import make_clip

    mkv, mp4 = tmp_path / "clip.mkv", tmp_path / "clip.mp4"
    make_clip(mkv, seconds=1, fps=12, width=64, height=36)
    make_clip(mp4, seconds=1, fps=12, width=64, height=36, audio=True)

    assert sample_table(str(mkv), 0) is None
    assert sample_table(str(mp4), 1) is None  # the sound's track
    assert index_video(mkv).frames == 12  # read from its packets instead
