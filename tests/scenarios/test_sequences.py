"""Rendered image sequences through the local server: frames in, a proxy out, frames back.

Sequences are made on the fly (tests/sequences.py). Each result is checked for what a render
pipeline relies on: the same format and depth, the same frame numbers, the frame count, the
picture upscaled, and for scene-linear EXR the grey ramp back in scene-linear within a stated
tolerance after the view transform, the service's 8 bits, and the inverse.
"""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from uprez.errors import InputError
from uprez.media.image_sequence import ImageSequence
from uprez.media.master import describe_master
from uprez.media.sequence import describe_sequence, find_sequence, read_frames
from uprez.plugins import PluginManager
from uprez.step.sidecar import sidecar_path

from sequences import HIGHLIGHT_ROWS, dpx_sequence, exr_sequence, linear_picture, png_sequence
from support import TEST_BOX, Service


def upscale(seq: ImageSequence, service: Service, pm: PluginManager, **overrides: object) -> Path:
    return Path(str(service.upscale(seq, pm, **overrides).path))


def result_of(seq: ImageSequence, pattern: Path) -> ImageSequence:
    found = find_sequence(pattern.parent / pattern.name.replace("####", f"{seq.first:04d}"))
    return found.with_fps(seq.fps)


def test_an_exr_sequence_comes_back_as_exr_frames_with_its_numbers_and_its_ramp(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    seq = exr_sequence(tmp_path / "render", fps=Fraction(24))

    out = upscale(seq, service, pm)

    assert out.name == "sh010_4k.####.exr"
    back = result_of(seq, out)
    assert back.numbers == seq.numbers == tuple(range(1001, 1049))
    info = describe_sequence(back)
    assert (info.codec, info.pix_fmt) == ("exr", describe_sequence(seq).pix_fmt)
    scale = TEST_BOX[1] / seq_height(seq)
    assert (info.width, info.height) == (round(192 * scale), TEST_BOX[1])
    # The ramp, scaled back down: through ACES 2.0 SDR, 8 bits and the inverse, a grey comes
    # back within a few per cent (8-bit codes are ~2 % apart in the mid-tones).
    frame = next(iter(read_frames(back, 10, 11)))
    big = frame.to_ndarray()  # float planes G, B, R; swscale would clamp floats to 1.0
    ys = (np.arange(108) * big.shape[0] / 108).astype(int)
    xs = (np.arange(192) * big.shape[1] / 192).astype(int)
    got = big[ys][:, xs]  # nearest source-size sample of each pixel
    want = linear_picture(192, 108, 10)[..., [1, 2, 0]]  # R, G, B as G, B, R
    rows = slice(10, 108 - HIGHLIGHT_ROWS - 10)  # away from the highlight band's edge
    cols = slice(40, 180)  # mid-grey to white, where relative error is meaningful
    mask = want[rows, cols, 0] > 0.1
    ratio = got[rows, cols, 0][mask] / want[rows, cols, 0][mask]
    assert np.median(np.abs(ratio - 1)) < 0.05, np.median(np.abs(ratio - 1))
    # Highlights above 1.0 survive as scene-linear values above 1.0.
    highlight = got[108 - HIGHLIGHT_ROWS // 2, 150, 0]
    assert highlight > 1.5
    assert abs(highlight / want[108 - HIGHLIGHT_ROWS // 2, 150, 0] - 1) < 0.15
    sidecar = json.loads(sidecar_path(out).read_text())
    colour = sidecar["master"]["proxy"]["colour"]
    assert colour["view"] and colour["display"] and colour["invertible"] is True
    assert not any(Path(str(out).replace("####", "1001")).parent.glob("*.tmp*"))


def seq_height(seq: ImageSequence) -> int:
    return describe_sequence(seq).height


@pytest.mark.parametrize(
    ("make", "pix_fmt"),
    [
        (lambda folder: dpx_sequence(folder, count=12, fps=Fraction(25)), "gbrp10le"),
        (lambda folder: png_sequence(folder, count=12, fps=Fraction(25), bits=16), "rgb48be"),
    ],
)
def test_display_referred_sequences_keep_their_format_and_depth(
    tmp_path: Path, service: Service, pm: PluginManager, make: object, pix_fmt: str
) -> None:
    seq = make(tmp_path / "render")  # type: ignore[operator]

    out = upscale(seq, service, pm)

    back = result_of(seq, out)
    assert back.numbers == seq.numbers
    info = describe_sequence(back)
    assert info.pix_fmt == describe_sequence(seq).pix_fmt == pix_fmt
    assert info.height == TEST_BOX[1]


def test_a_gap_is_refused_before_anything_is_spent_naming_the_missing_frames(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    seq = exr_sequence(tmp_path / "render", count=24, missing=(1010, 1011, 1012, 1020))
    found = find_sequence(seq.pattern, fps=Fraction(24))

    with pytest.raises(InputError, match=r"1010-1012, 1020"):
        upscale(found, service, pm)

    assert service.spent() == (0, 0)


def test_a_sequence_without_a_frame_rate_is_refused_before_spending(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    seq = png_sequence(tmp_path / "render", count=6)

    with pytest.raises(InputError, match="frame rate"):
        upscale(seq.with_fps(None), service, pm)

    assert service.spent() == (0, 0)
    out = upscale(seq.with_fps(None), service, pm, sequence={"fps": 24})  # the config's
    assert result_of(seq.with_fps(Fraction(24)), out).count == 6


def test_a_sequence_can_be_asked_for_as_a_movie(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    seq = png_sequence(tmp_path / "render", count=12, fps=Fraction(24))

    out = upscale(seq, service, pm, sequence={"output": "movie"})

    assert out.name == "sh010_4k.mp4"
    movie = describe_master(out)
    assert (movie.codec, movie.fps) == ("h264", Fraction(24))


def test_the_command_line_takes_a_pattern_and_a_frame_rate(tmp_path: Path) -> None:
    seq = png_sequence(tmp_path / "render", count=6)
    config = tmp_path / "uprez.toml"
    config.write_text(f'[local]\nmax_size = "{TEST_BOX[0]}x{TEST_BOX[1]}"\n', encoding="utf-8")

    done = subprocess.run(
        [
            *(sys.executable, "-m", "uprez", "upscale", str(seq.pattern), "--fps", "23.976"),
            *("--provider", "local", "--config", str(config), "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["output"].endswith("sh010_4k.####.png")
    sidecar = json.loads(Path(result["sidecar"]).read_text())
    assert sidecar["master"]["proxy"]["fps"] == "24000/1001"
    with av.open(str(next((tmp_path / "render").glob("sh010_4k.*.png")))) as one:
        assert one.streams.video[0].codec_context.height == TEST_BOX[1]
