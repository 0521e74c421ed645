"""The demo's test chart: real files written with PyAV, read back and measured (nothing mocked)."""

from __future__ import annotations

import array
import itertools
import math
import time
from pathlib import Path

import av
import pytest

from uprez.media.bitmap_font import GLYPH_HEIGHT, GLYPH_WIDTH, text_mask
from uprez.media.demo_clip import DEMO_SIZE, make_demo_clip
from uprez.media.probe import probe
from uprez.media.synth import make_clip

SECONDS = 2.0


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The demo clip as ``uprez demo`` makes it, and the seconds it took."""
    folder = tmp_path_factory.mktemp("chart")
    started = time.perf_counter()
    path = make_demo_clip(folder / "chart.mp4", seconds=SECONDS)
    return path, time.perf_counter() - started


@pytest.fixture
def chart(made: tuple[Path, float]) -> Path:
    return made[0]


def luma(path: Path, index: int) -> tuple[int, int, bytes]:
    """Frame ``index`` of a video: width, height and its luma, tightly packed."""
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                grey = frame.reformat(format="gray")
                plane = grey.planes[0]
                data = bytes(plane)
                rows = (
                    data[y * plane.line_size : y * plane.line_size + grey.width]
                    for y in range(grey.height)
                )
                return grey.width, grey.height, b"".join(rows)
    raise AssertionError(f"{path} has no frame {index}")


def edges(width: int, height: int, pixels: bytes, step: int = 24) -> int:
    """Neighbouring pixels (across and down) whose grey differs by more than ``step``: how
    much fine detail a picture holds."""
    count = 0
    for y in range(height - 1):
        row = pixels[y * width : (y + 1) * width]
        below = pixels[(y + 1) * width : (y + 2) * width]
        count += sum(abs(a - b) > step for a, b in itertools.pairwise(row))
        count += sum(abs(a - b) > step for a, b in zip(row, below, strict=True))
    return count


def test_the_chart_is_full_of_fine_detail_where_the_old_demo_had_a_gradient(
    chart: Path, tmp_path: Path
) -> None:
    old = make_clip(tmp_path / "old.mp4", seconds=SECONDS, fps=24, width=640, height=360)
    middle = round(SECONDS * 24) // 2

    chart_edges = edges(*luma(chart, middle))
    old_edges = edges(*luma(Path(old), middle))

    # The gradient's colour bars make a few thousand edges; text, lines, rings and a star
    # make tens of thousands.
    assert chart_edges > 30_000
    assert chart_edges > 8 * old_edges, (chart_edges, old_edges)


def test_the_chart_moves_from_frame_to_frame(chart: Path) -> None:
    width, height, first = luma(chart, 0)
    _, _, later = luma(chart, 5)

    changed = sum(abs(a - b) > 16 for a, b in zip(first, later, strict=True))

    # The rings, the two scrolling lines and the counter: a good share of the picture.
    assert changed > 0.05 * width * height


def test_the_chart_is_a_playable_clip_of_the_asked_length_with_sound(chart: Path) -> None:
    info = probe(chart)

    assert (info.width, info.height) == DEMO_SIZE
    assert info.frames == round(SECONDS * 24)
    assert info.audio_streams == 1
    assert info.duration == pytest.approx(SECONDS, abs=0.05)


def test_the_sound_is_a_beep_at_each_whole_second(chart: Path) -> None:
    loud: list[float] = []
    quiet: list[float] = []
    with av.open(str(chart)) as container:
        for frame in container.decode(audio=0):
            if frame.pts is None or frame.time_base is None:
                continue
            start = float(frame.pts * frame.time_base)
            samples = _samples(frame)
            rms = math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))
            middle = (start + frame.samples / frame.sample_rate / 2) % 1.0
            if 0.02 < middle < 0.08:
                loud.append(rms)
            elif 0.2 < middle < 0.9:
                quiet.append(rms)

    assert loud and quiet
    assert min(loud) > 0.05
    assert max(quiet) < 0.01


def _samples(frame: av.AudioFrame) -> list[float]:
    """The first channel's samples as floats from -1 to 1 (the AAC decoder gives planar
    32-bit floats)."""
    plane = frame.planes[0]
    values = array.array("f")
    values.frombytes(bytes(plane)[: frame.samples * 4])
    return list(values)


def test_the_chart_is_made_in_well_under_a_few_seconds(made: tuple[Path, float]) -> None:
    # Typically 0.4-0.8 s on two cores, encoding included; the bound leaves room for a busy
    # machine, not for drawing pixel by pixel in Python (over ten seconds).
    assert made[1] < 5.0


def test_text_is_drawn_from_the_bitmap_font() -> None:
    width, height, rows = text_mask("IT", scale=2)

    assert (width, height) == (2 * 2 * (GLYPH_WIDTH + 1), 2 * GLYPH_HEIGHT)
    # The I's serif row: three dots in the middle of its five, each two pixels wide.
    assert rows[0][: 2 * (GLYPH_WIDTH + 1)] == bytes([0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    # The T's bar: all five dots.
    assert rows[0][12:22] == b"\x01" * 10


def test_letters_without_a_glyph_are_capitals_and_other_characters_a_question_mark() -> None:
    assert text_mask("a") == text_mask("A")
    assert text_mask("~") == text_mask("?")
    assert text_mask("x") != text_mask("X")  # the small x of "640x360"
