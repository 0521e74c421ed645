"""Comparison pictures, on real clips and a real local upscale (nothing mocked)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from uprez.errors import MediaError
from uprez.media.compare import SEPARATOR, write_comparison
from uprez.media.synth import make_clip
from uprez.standin.upscale import upscale_file

SMALL_BOX = (256, 144)
SRC_W, SRC_H = 64, 36
RES_W, RES_H = 256, 144  # 4x the source
FRAMES = 12  # 1 s at 12 fps


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 64x36, 12-frame clip and its local 4x upscale."""
    folder = tmp_path_factory.mktemp("compare")
    src = Path(make_clip(folder / "src.mp4", seconds=1, fps=12, width=SRC_W, height=SRC_H))
    dst = folder / "result.mp4"
    upscale_file(src, dst, max_size=SMALL_BOX)
    return src, dst


def rgb_frames(path: Path) -> list[tuple[int, int, bytes]]:
    """Every frame of a video as (width, line size, RGB24 bytes), in display order."""
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            rgb = frame.reformat(format="rgb24")
            frames.append((rgb.width, rgb.planes[0].line_size, bytes(rgb.planes[0])))
        return frames


def read_png(path: Path) -> tuple[int, int, int, bytes]:
    """(width, height, line size, RGB24 bytes) of the one picture in a PNG."""
    with av.open(str(path)) as container:
        pictures = list(container.decode(video=0))
    assert len(pictures) == 1
    rgb = pictures[0].reformat(format="rgb24")
    return rgb.width, rgb.height, rgb.planes[0].line_size, bytes(rgb.planes[0])


def pixel(data: bytes, line: int, x: int, y: int) -> bytes:
    return data[y * line + x * 3 : y * line + x * 3 + 3]


def expected_size(rows: int, crop: int) -> tuple[int, int]:
    width = max(RES_W + SEPARATOR + RES_W, 2 * crop + SEPARATOR)  # left panel: 64x36 -> 256x144
    return width, rows * (RES_H + SEPARATOR) + crop


def test_comparison_shows_source_pixels_result_pixels_and_a_crop(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    src, dst = pair
    png = tmp_path / "compare.png"
    assert write_comparison(src, dst, png) == png
    assert [p.name for p in tmp_path.iterdir()] == ["compare.png"]  # no temporary left over

    width, height, line, data = read_png(png)
    crop = min(256, RES_W, RES_H)  # 144: the result is smaller than the default crop
    assert (width, height) == expected_size(3, crop)

    sources, results = rgb_frames(src), rgb_frames(dst)
    assert len(sources) == len(results) == FRAMES
    for row, index in enumerate((3, 6, 9)):  # 1/4, 2/4, 3/4 of 12 frames
        top = row * (RES_H + SEPARATOR)
        _, s_line, s_data = sources[index]
        _, r_line, r_data = results[index]
        for x, y in ((0, 0), (5, 7), (100, 50), (255, 143), (128, 71)):
            # Each source pixel is a 4x4 block of the left panel.
            assert pixel(data, line, x, top + y) == pixel(s_data, s_line, x // 4, y // 4)
        for y in range(0, RES_H, 13):
            for x in range(0, RES_W, 11):
                got = pixel(data, line, RES_W + SEPARATOR + x, top + y)
                assert got == pixel(r_data, r_line, x, y)
        assert pixel(data, line, RES_W + 1, top) == bytes([128] * 3)  # the separator

    # The crop row: the centre 144x144 of the middle result frame at 1:1, the source beside it.
    top, x0, y0 = 3 * (RES_H + SEPARATOR), (RES_W - crop) // 2, (RES_H - crop) // 2
    _, s_line, s_data = sources[6]
    _, r_line, r_data = results[6]
    for y in range(0, crop, 7):
        for x in range(0, crop, 5):
            got = pixel(data, line, crop + SEPARATOR + x, top + y)
            assert got == pixel(r_data, r_line, x0 + x, y0 + y)
            source = pixel(s_data, s_line, (x0 + x) // 4, (y0 + y) // 4)
            assert pixel(data, line, x, top + y) == source
    assert pixel(data, line, 2 * crop + SEPARATOR, top) == bytes([128] * 3)  # background


def test_one_frame_and_a_small_crop(pair: tuple[Path, Path], tmp_path: Path) -> None:
    src, dst = pair
    png = write_comparison(src, dst, tmp_path / "one.png", frames=1, crop=32)
    width, height, line, data = read_png(png)
    assert (width, height) == expected_size(1, 32)
    _, r_line, r_data = rgb_frames(dst)[6]  # the middle of the clip
    top, x0, y0 = RES_H + SEPARATOR, (RES_W - 32) // 2, (RES_H - 32) // 2
    for x, y in ((0, 0), (31, 31), (9, 20)):
        got = pixel(data, line, 32 + SEPARATOR + x, top + y)
        assert got == pixel(r_data, r_line, x0 + x, y0 + y)


def test_unreadable_source_raises_and_writes_nothing(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    _, dst = pair
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    png = tmp_path / "compare.png"
    with pytest.raises(MediaError):
        write_comparison(broken, dst, png)
    with pytest.raises(MediaError):
        write_comparison(tmp_path / "missing.mp4", dst, png)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]


def test_an_existing_picture_survives_a_failure(pair: tuple[Path, Path], tmp_path: Path) -> None:
    src, _ = pair
    png = tmp_path / "compare.png"
    png.write_bytes(b"old picture")
    with pytest.raises(MediaError):
        write_comparison(src, tmp_path / "missing.mp4", png)
    assert png.read_bytes() == b"old picture"


@pytest.mark.parametrize(
    "options",
    [
        {"frames": 0},
        {"crop": 0},
        {"crop": 5000},
        {"max_width": 63},
        {"max_width": 4097},
        {"max_width": 1000.0},
    ],
)
def test_bad_arguments(pair: tuple[Path, Path], tmp_path: Path, options: dict[str, int]) -> None:
    src, dst = pair
    with pytest.raises(ValueError):
        write_comparison(src, dst, tmp_path / "x.png", **options)


def test_wide_results_are_scaled_to_fit_but_the_crop_is_not(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", seconds=1, fps=2, width=SRC_W, height=SRC_H, audio=False)
    big = make_clip(tmp_path / "big.mp4", seconds=1, fps=2, width=2240, height=1260, audio=False)
    png = write_comparison(src, big, tmp_path / "wide.png", frames=1)
    width, height, line, data = read_png(png)
    # Both panels would be 2240 wide: scaled by 4092/4480 to fit 4096 pixels.
    row_h = 1260 * 4092 // 4480
    assert (width, height) == (4096, row_h + SEPARATOR + 256)
    _, r_line, r_data = rgb_frames(Path(big))[1]
    top, x0, y0 = row_h + SEPARATOR, (2240 - 256) // 2, (1260 - 256) // 2
    for x, y in ((0, 0), (17, 200), (255, 255)):
        got = pixel(data, line, 256 + SEPARATOR + x, top + y)
        assert got == pixel(r_data, r_line, x0 + x, y0 + y)


def test_a_smaller_max_width_shrinks_the_rows_but_not_the_crop(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    src, dst = pair
    png = write_comparison(src, dst, tmp_path / "narrow.png", frames=2, crop=64, max_width=260)
    width, height, line, data = read_png(png)
    # Both 256-wide panels scaled by 256/512 to fit 260 pixels; the crop row at 1:1.
    row_h = RES_H * 256 // 512
    assert (width, height) == (260, 2 * (row_h + SEPARATOR) + 64)
    _, r_line, r_data = rgb_frames(dst)[8]  # the crop: the second of two moments, 2/3 in
    top, x0, y0 = 2 * (row_h + SEPARATOR), (RES_W - 64) // 2, (RES_H - 64) // 2
    for x, y in ((0, 0), (63, 63), (20, 41)):
        got = pixel(data, line, 64 + SEPARATOR + x, top + y)
        assert got == pixel(r_data, r_line, x0 + x, y0 + y)
