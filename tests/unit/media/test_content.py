"""The content check: a result compared with its source by picture, on real clips made here.

Results are made the way the service's would be: by the local server's real scaler
(:func:`uprez.standin.upscale.upscale_file`), with its picture faults for the wrong ones.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest

from uprez.media import frame_pairs
from uprez.media.content import compare_content, content_problems
from uprez.media.keyframes import index_video
from uprez.standin.upscale import upscale_file

from masters import make_prores

BOX = (256, 144)
FPS = 12


def check(source: Path, result: Path, samples: int = 12) -> list[str]:
    return content_problems(source, result, samples=samples, min_similarity=0.6)


def upscaled(source: Path, **options: str) -> Path:
    """``source`` upscaled by the local server's scaler (``mode``; ``tamper`` for a wrong
    picture)."""
    target = source.with_name(f"{source.stem}_{'_'.join(options.values()) or 'up'}.mp4")
    upscale_file(source, target, max_size=BOX, **options)
    return target


def write_clip(
    path: Path,
    picture: Callable[[int], int | None],
    *,
    frames: int = 24,
    size: tuple[int, int] = (64, 36),
    gop: int | None = None,
) -> Path:
    """A clip whose frame i is flat grey ``picture(i)`` (0..255), or, where that is None, a
    pattern that moves every frame."""
    width, height = size
    with av.open(str(path), "w") as out:
        options = {"g": str(gop), "bf": "0"} if gop else {}
        video = out.add_stream("libx264", rate=FPS, options=options)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            level = picture(i)
            values = (
                [(x * 7 + y * 3 + i * 9) % 256 for y in range(height) for x in range(width)]
                if level is None
                else [level] * (width * height)
            )
            rgba = bytes(v for value in values for v in (value, value, value, 255))
            frame = av.VideoFrame.from_bytes(rgba, width, height, "rgba").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def transposed(source: Path, target: Path, turn: str) -> Path:
    """``source``'s pictures turned by FFmpeg's ``transpose`` (``"cclock"`` or ``"clock"``)
    and stored that way, with no rotation tag."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream = inp.streams.video[0]
        graph = av.filter.Graph()
        chain = [graph.add_buffer(template=stream), graph.add("transpose", turn)]
        chain.append(graph.add("buffersink"))
        for a, b in itertools.pairwise(chain):
            a.link_to(b)
        graph.configure()
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = stream.height, stream.width, "yuv420p"
        for frame in _turned(inp.decode(stream), graph):
            frame.pict_type = 0
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return target


def _turned(frames: Iterator[av.VideoFrame], graph: av.filter.Graph) -> Iterator[av.VideoFrame]:
    for frame in frames:
        graph.push(frame)
        yield graph.vpull()


def times(problem: str) -> list[float]:
    return [float(t) for t in re.findall(r"(\d+\.\d+) s", problem)]


# -- what passes --------------------------------------------------------------------------------


def test_a_file_compared_with_itself_has_no_problem(make_clip: Callable[..., Path]) -> None:
    source = make_clip("a.mp4", seconds=2, fps=FPS)

    moments = compare_content(source, source, samples=12)

    assert len(moments) == 12
    assert all(m.similarity > 0.999 and not m.black and not m.frozen for m in moments)
    assert check(source, source) == []


@pytest.mark.parametrize("mode", ["lanczos", "learned"])  # learned: a CNN that sharpens
def test_a_real_upscale_has_no_problem_and_looks_like_its_source(
    make_clip: Callable[..., Path], mode: str
) -> None:
    source = make_clip("a.mp4", seconds=2, fps=FPS)
    result = upscaled(source, mode=mode)

    assert check(source, result) == []
    assert min(m.similarity for m in compare_content(source, result, samples=12)) > 0.9


def test_a_rotation_tag_or_a_picture_stored_turned_is_the_same_picture(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    source = make_clip("phone.mp4", seconds=1, fps=FPS, rotation=90)
    # Shown 90 degrees counter-clockwise: the same as stored turned that way, untagged.
    assert check(source, upscaled(source)) == []
    assert check(source, transposed(source, tmp_path / "upright.mp4", "cclock")) == []
    # Turned the other way it is upside down, which the check sees.
    [problem] = check(source, transposed(source, tmp_path / "wrong.mp4", "clock"))
    assert problem.startswith("looks like another clip")


def test_a_source_that_is_itself_black_or_still_is_no_false_alarm(tmp_path: Path) -> None:
    black = write_clip(tmp_path / "black.mp4", lambda i: 0)
    still = write_clip(tmp_path / "still.mp4", lambda i: 128)
    fade = write_clip(tmp_path / "fade.mp4", lambda i: 0 if i >= 12 else None)

    for source in (black, still, fade):
        assert check(source, upscaled(source)) == [], source.name
    # The still source's result does not move either, and that is right.
    assert not any(m.frozen for m in compare_content(still, upscaled(still), samples=12))


def test_a_10_bit_anamorphic_prores_master_compares_with_its_h264_upscale(tmp_path: Path) -> None:
    master = make_prores(tmp_path / "master.mov", seconds=0.5, fps=FPS)

    assert check(master, upscaled(master)) == []
    [problem] = check(master, upscaled(master, tamper="other"))
    assert problem.startswith("looks like another clip")


# -- what is caught ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "opening"),
    [
        ("black", "black from 0.00 s to "),
        ("frozen", "frozen from 0.00 s to "),
        ("other", "looks like another clip from 0.00 s to "),
    ],
)
def test_a_wrong_picture_of_the_right_size_is_reported_over_its_whole_length(
    make_clip: Callable[..., Path], tamper: str, opening: str
) -> None:
    source = make_clip("a.mp4", seconds=2, fps=FPS)
    result = upscaled(source, tamper=tamper)

    [problem] = check(source, result)

    assert problem.startswith(opening), problem
    assert times(problem)[-1] >= 1.5  # to the end: the last moment sampled is past 1.5 s
    assert "12 sampled moments" in problem


def test_a_black_stretch_is_reported_as_one_run_with_its_times(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "a.mp4", lambda i: None)
    result = write_clip(tmp_path / "b.mp4", lambda i: 0 if 6 <= i < 14 else None)

    [problem] = check(source, result)

    assert problem.startswith("black from "), problem
    first, last = times(problem)
    assert 6 / FPS <= first < last < 14 / FPS


def test_one_wrong_moment_is_named_by_its_time_and_frame(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "a.mp4", lambda i: None)
    result = write_clip(tmp_path / "b.mp4", lambda i: 0 if i == 5 else None)

    assert check(source, result) == ["black at 0.42 s (frame 5) where the source is not"]


# -- what it costs -------------------------------------------------------------------------------


def test_a_long_result_is_read_from_keyframes_a_few_frames_a_moment(tmp_path: Path) -> None:
    # 20 s at 12 fps, the result with a keyframe every 2 s, the source every 5 s.
    source = write_clip(tmp_path / "a.mp4", lambda i: None, frames=240, gop=60)
    result = write_clip(tmp_path / "b.mp4", lambda i: None, frames=240, gop=24)
    indexes = {source: index_video(source), result: index_video(result)}

    chosen = frame_pairs.choose_frames(indexes[source], indexes[result], 8)

    assert len(chosen) == 8
    assert max(b - a for a, b in itertools.pairwise(chosen)) <= 2 * 240 // 8
    decoded = 0
    for path, index in indexes.items():
        with av.open(str(path)) as container, av.open(str(path)) as whole:
            reader = frame_pairs.PairReader(container, index)
            every = list(whole.decode(video=0))
            for k in chosen:
                # The frames a seek lands on are the very frames k and k+1.
                got = reader.pair(k)
                assert [f.pts for f in got if f is not None] == [every[k].pts, every[k + 1].pts]
                assert bytes(got[0].planes[0]) == bytes(every[k].planes[0])
            decoded += reader.decoded
    assert decoded <= frame_pairs.DECODE_BUDGET
    assert decoded < 240  # both files read whole would be 480 frames


def test_a_short_clip_is_read_once_and_sampled_evenly(make_clip: Callable[..., Path]) -> None:
    source = make_clip("a.mp4", seconds=2, fps=FPS)  # one keyframe

    frames = [m.frame for m in compare_content(source, source, samples=6)]

    assert frames == [0, 3, 7, 11, 15, 19]
