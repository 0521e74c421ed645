"""Finding a rendered image sequence: every way of naming one, gaps named, names that must not
count as frames, and the content key that changes when a frame does.

Finding reads names only, so most of these tests lay out empty files; the frames of the
reading and writing tests are real images made with PyAV (tests/sequences.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from uprez.errors import InputError, MediaError
from uprez.media.sequence import (
    ImageSequence,
    check_complete,
    describe_sequence,
    find_sequence,
    frame_ranges,
    is_sequence,
    read_frames,
)
from uprez.media.sequence_writer import FrameFormat, SequenceWriter, frame_format, write_frame

from sequences import (
    HEIGHT,
    WIDTH,
    code_picture,
    cropped_exr,
    dpx_sequence,
    exr_sequence,
    farm_chunks,
    linear_picture,
    png_sequence,
    tiff_sequence,
)


def lay_out(folder: Path, *names: str) -> Path:
    """Empty files named ``names`` in ``folder`` (made if need be); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).touch()
    return folder


def frames(head: str, numbers: range | list[int], tail: str, padding: int = 4) -> list[str]:
    return [f"{head}{n:0{padding}d}{tail}" for n in numbers]


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    """sh010.1001.exr ... sh010.1048.exr."""
    return lay_out(tmp_path / "render", *frames("sh010.", range(1001, 1049), ".exr"))


# -- every way of naming a sequence ----------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    ["sh010.####.exr", "sh010.%04d.exr", "sh010.$F4.exr", "sh010.1001.exr", "sh010.1030.exr"],
)
def test_a_pattern_or_any_frame_names_the_whole_sequence(shot: Path, spec: str) -> None:
    seq = find_sequence(shot / spec)
    assert (seq.folder, seq.head, seq.tail, seq.padding) == (shot, "sh010.", ".exr", 4)
    assert seq.numbers == tuple(range(1001, 1049))
    assert (seq.first, seq.last, seq.count) == (1001, 1048, 48)


def test_a_folder_with_one_sequence_names_it(shot: Path) -> None:
    assert find_sequence(shot).name == "sh010.####.exr"
    assert find_sequence(str(shot)).count == 48


def test_what_a_sequence_says_of_itself(shot: Path) -> None:
    seq = find_sequence(shot, fps=Fraction(24000, 1001))
    assert str(seq) == str(shot / "sh010.####.exr")
    assert seq.pattern == shot / "sh010.####.exr"
    assert (seq.stem, seq.separator, seq.suffix) == ("sh010", ".", ".exr")
    assert seq.printf_name == "sh010.%04d.exr"
    assert seq.path(1001) == shot / "sh010.1001.exr"
    assert list(seq.paths())[-1] == shot / "sh010.1048.exr"
    assert seq.fps == Fraction(24000, 1001)
    assert seq.with_fps(Fraction(25)).fps == 25
    assert seq.missing() == [] and seq.gaps() == []
    assert hash(seq) == hash(find_sequence(shot, fps=Fraction(24000, 1001)))
    assert len({seq, find_sequence(shot, fps=Fraction(24000, 1001))}) == 1


def test_unpadded_numbers(tmp_path: Path) -> None:
    folder = lay_out(tmp_path, *(f"frame_{n}.png" for n in range(8, 13)))
    seq = find_sequence(folder)
    assert (seq.padding, seq.name, seq.printf_name) == (0, "frame_#.png", "frame_%d.png")
    assert seq.numbers == (8, 9, 10, 11, 12)
    assert find_sequence(folder / "frame_%d.png") == seq
    assert find_sequence(folder / "frame_$F.png") == seq
    assert find_sequence(folder / "frame_9.png") == seq
    assert seq.stem == "frame"


def test_a_number_longer_than_its_padding_belongs_to_the_sequence(tmp_path: Path) -> None:
    # %04d writes 10000 as "10000": a long render crosses the padding and stays one sequence.
    folder = lay_out(tmp_path, *frames("sh.", range(9998, 10003), ".exr"))
    seq = find_sequence(folder)
    assert (seq.padding, seq.numbers) == (4, (9998, 9999, 10000, 10001, 10002))
    assert seq.path(10001).name == "sh.10001.exr"
    assert find_sequence(folder / "sh.10000.exr") == seq


def test_differently_padded_numbers_are_two_sequences(tmp_path: Path) -> None:
    folder = lay_out(
        tmp_path, *frames("sh.", range(1, 4), ".exr", 3), *frames("sh.", range(1, 4), ".exr", 4)
    )
    with pytest.raises(InputError, match=r"2 image sequences: sh\.####\.exr .*sh\.###\.exr"):
        find_sequence(folder)
    assert find_sequence(folder / "sh.###.exr").path(2).name == "sh.002.exr"
    assert find_sequence(folder / "sh.0002.exr").padding == 4
    assert find_sequence(folder / "sh.002.exr").padding == 3


def test_negative_frame_numbers_are_frames_before_zero(tmp_path: Path) -> None:
    # Nuke, Houdini and Blender write -3 as "-003" with %04d: the sign counts in the width.
    folder = lay_out(tmp_path, *frames("sh010.", range(-3, 3), ".exr"))
    assert sorted(p.name for p in folder.iterdir())[0] == "sh010.-001.exr"
    seq = find_sequence(folder / "sh010.####.exr")
    assert seq.numbers == (-3, -2, -1, 0, 1, 2)
    assert seq.path(-2).name == "sh010.-002.exr"
    assert find_sequence(folder / "sh010.-002.exr") == seq
    assert frame_ranges(seq.numbers) == "-3 to 2"


def test_a_hyphen_after_a_letter_separates_rather_than_negates(tmp_path: Path) -> None:
    folder = lay_out(tmp_path, *frames("plate-", range(1001, 1004), ".dpx"))
    seq = find_sequence(folder)
    assert (seq.head, seq.numbers, seq.stem) == ("plate-", (1001, 1002, 1003), "plate")


def test_case_of_the_extension_is_kept(tmp_path: Path) -> None:
    folder = lay_out(tmp_path, *frames("scan_", range(1, 4), ".DPX", 6))
    seq = find_sequence(folder)
    assert (seq.name, seq.suffix) == ("scan_######.DPX", ".DPX")
    assert is_sequence(folder / "scan_000001.DPX")


def test_files_named_only_by_number_take_the_folders_name_as_stem(tmp_path: Path) -> None:
    folder = lay_out(tmp_path / "beauty", *frames("", range(1, 5), ".png"))
    seq = find_sequence(folder)
    assert (seq.name, seq.stem, seq.separator) == ("####.png", "beauty", "")


def test_the_pattern_may_carry_text_after_the_number(tmp_path: Path) -> None:
    folder = lay_out(tmp_path, *frames("sh010.", range(1, 4), ".beauty.exr"))
    seq = find_sequence(folder / "sh010.####.beauty.exr")
    assert (seq.head, seq.tail, seq.suffix, seq.count) == ("sh010.", ".beauty.exr", ".exr", 3)


# -- gaps ------------------------------------------------------------------------------------------


def test_gaps_are_named_compactly_before_anything_is_spent(shot: Path) -> None:
    for n in (1010, 1011, 1012, 1020):
        (shot / f"sh010.{n}.exr").unlink()
    seq = find_sequence(shot)
    assert seq.missing() == [1010, 1011, 1012, 1020]
    assert seq.gaps() == [(1010, 1012), (1020, 1020)]
    with pytest.raises(InputError, match=r"missing frames 1010-1012, 1020 \(4 of 48\)") as caught:
        check_complete(seq)
    assert caught.value.exit_code == 3
    assert "sh010.####.exr" in str(caught.value)


def test_a_range_with_handles_the_render_lacks_is_refused(shot: Path) -> None:
    seq = find_sequence(shot)
    check_complete(seq, 1001, 1048)
    with pytest.raises(InputError, match=r"missing frames 993-1000, 1049-1056 \(16 of 64\)"):
        check_complete(seq, 993, 1056)


def test_a_long_gap_is_counted_without_listing_it(tmp_path: Path) -> None:
    folder = lay_out(tmp_path, "sh.1.exr", "sh.20240101.exr")
    seq = find_sequence(folder)
    with pytest.raises(InputError, match=r"missing frames 2-20240100 \(20240099 of 20240101\)"):
        check_complete(seq)


def test_a_subrange_keeps_the_edits_frames(shot: Path) -> None:
    seq = find_sequence(shot)
    cut = seq.subrange(1009, 1040)
    assert (cut.first, cut.last, cut.count, cut.name) == (1009, 1040, 32, seq.name)
    assert seq.subrange(900, 1002).numbers == (1001, 1002)
    with pytest.raises(InputError, match="no frame in 2001-2010"):
        seq.subrange(2001, 2010)


# -- several sequences, and names that are not frames ----------------------------------------------


def test_two_sequences_in_a_folder_are_both_named(shot: Path) -> None:
    lay_out(shot, *frames("sh010_4k.", range(1001, 1011), ".exr"))
    with pytest.raises(InputError) as caught:
        find_sequence(shot)
    text = str(caught.value)
    assert "2 image sequences" in text
    assert "sh010.####.exr (48 frames, 1001-1048)" in text
    assert "sh010_4k.####.exr (10 frames, 1001-1010)" in text
    assert find_sequence(shot / "sh010_4k.1005.exr").count == 10
    assert find_sequence(shot / "sh010.####.exr").count == 48


def test_uprez_own_files_beside_the_frames_are_not_frames(shot: Path) -> None:
    work = lay_out(shot / ".uprez-work" / "sh010-abc", *frames("sh010.", range(1001, 1003), ".exr"))
    lay_out(
        shot,
        ".sh010.1049.exr.4242.deadbeef.part",  # an unfinished atomic write
        "sh010.####.exr.uprez.json",  # a sidecar
        "sh010.1049.exr.uprez.json",
        ".sh010.1050.exr",  # any hidden file
        "notes.txt",
        "thumbnail.png",  # an image without a number
    )
    (shot / "sh010.1051.exr").mkdir()  # a folder is never a frame
    assert work.is_dir()
    seq = find_sequence(shot)
    assert (seq.name, seq.numbers) == ("sh010.####.exr", tuple(range(1001, 1049)))
    assert find_sequence(shot / "sh010.####.exr") == seq
    assert find_sequence(shot / "sh010.1001.exr") == seq


def test_dots_spaces_and_brackets_in_a_name_are_taken_literally(tmp_path: Path) -> None:
    folder = lay_out(
        tmp_path / "my renders (v2)",
        *frames("sh 010..[a+b]", range(1, 4), ".exr"),
        *frames("sh 010xx[a+b]", range(1, 4), ".exr"),  # what "." as a wildcard would take
    )
    seq = find_sequence(folder / "sh 010..[a+b]####.exr")
    assert (seq.head, seq.count) == ("sh 010..[a+b]", 3)
    assert find_sequence(folder / "sh 010..[a+b]0002.exr") == seq


def test_a_pattern_through_dot_dot_finds_the_folder_it_names(shot: Path) -> None:
    other = shot.parent / "other"
    other.mkdir()
    seq = find_sequence(other / ".." / "render" / "sh010.####.exr")
    assert seq.count == 48
    assert seq.path(1001).is_file()


def test_a_folder_name_with_pattern_characters_is_literal(tmp_path: Path) -> None:
    folder = lay_out(tmp_path / "take#2 %04d", *frames("sh.", range(1, 3), ".png"))
    assert find_sequence(folder / "sh.####.png").folder == folder
    assert find_sequence(folder).count == 2
    assert find_sequence(folder / "sh.0001.png").count == 2


# -- what is refused -------------------------------------------------------------------------------


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    lay_out(tmp_path, "notes.txt", "clip.mov")
    with pytest.raises(InputError, match="no image sequence in"):
        find_sequence(tmp_path)


def test_a_pattern_matching_nothing_says_what_is_there(shot: Path) -> None:
    # %05d would write 1001 as 01001: none of these frames.
    with pytest.raises(InputError, match=r"no frames match .*sh010\.#####\.exr.*sh010\.####\.exr"):
        find_sequence(shot / "sh010.#####.exr")
    # %03d writes 1001 as %04d does: the same frames.
    assert find_sequence(shot / "sh010.###.exr").count == 48
    with pytest.raises(InputError, match="no frames match"):
        find_sequence(shot / "sh020.####.exr")


def test_a_pattern_of_something_other_than_images_is_refused(shot: Path) -> None:
    with pytest.raises(InputError, match="not an image sequence pattern"):
        find_sequence(shot / "sh010.####.mov")


def test_a_movie_or_a_missing_path_is_not_a_sequence(tmp_path: Path) -> None:
    lay_out(tmp_path, "clip_0001.mov", "still.png")
    with pytest.raises(InputError, match="not a frame of an image sequence"):
        find_sequence(tmp_path / "clip_0001.mov")
    with pytest.raises(InputError, match="not a frame of an image sequence"):
        find_sequence(tmp_path / "still.png")
    with pytest.raises(InputError, match="no such file"):
        find_sequence(tmp_path / "gone.exr")


def test_is_sequence_tells_a_sequence_from_a_movie(shot: Path, tmp_path: Path) -> None:
    lay_out(tmp_path, "clip.mov", "clip_0001.mov", "still.png")
    assert is_sequence(shot)
    assert is_sequence(shot / "sh010.####.exr")
    assert is_sequence(shot / "sh010.%04d.exr")
    assert is_sequence(str(shot / "sh010.1001.exr"))
    assert is_sequence(tmp_path / "not_yet_rendered.$F4.tif")
    assert not is_sequence(tmp_path / "clip.mov")
    assert not is_sequence(tmp_path / "clip_0001.mov")
    assert not is_sequence(tmp_path / "still.png")
    assert not is_sequence(tmp_path / "cut.####.mov")


# -- the content key -------------------------------------------------------------------------------


def test_the_content_key_changes_when_a_frame_does(shot: Path) -> None:
    seq = find_sequence(shot)
    key = seq.content_key()
    assert len(key) == 64 and key == find_sequence(shot).content_key()

    frame = shot / "sh010.1020.exr"
    frame.write_bytes(b"rendered again")
    assert seq.content_key() != key
    again = seq.content_key()

    stat = frame.stat()
    os.utime(frame, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert seq.content_key() != again

    assert seq.subrange(1001, 1047).content_key() != seq.content_key()


def test_the_content_key_of_a_vanished_frame_is_an_input_error(shot: Path) -> None:
    seq = find_sequence(shot)
    (shot / "sh010.1002.exr").unlink()
    with pytest.raises(InputError, match=r"frame sh010\.1002\.exr of .* cannot be read"):
        seq.content_key()


def test_an_image_sequence_is_checked_when_made() -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        ImageSequence(Path("."), "sh.", ".exr", 4, ())
    seq = ImageSequence(Path("."), "sh.", ".exr", 1, (3, 1, 2, 2))
    assert (seq.numbers, seq.padding) == ((1, 2, 3), 0)


# -- reading frames --------------------------------------------------------------------------------


def test_a_half_float_exr_is_described_as_scene_linear(tmp_path: Path) -> None:
    seq = exr_sequence(tmp_path)
    info = describe_sequence(seq)
    assert (info.width, info.height, info.codec) == (WIDTH, HEIGHT, "exr")
    assert (info.pix_fmt, info.frame_pix_fmt, info.bit_depth) == ("gbrpf16le", "gbrpf32le", 16)
    assert info.float_samples and info.scene_linear and not info.alpha
    assert (info.transfer, info.compression, info.frames) == ("linear", "zip", 48)
    assert info.size_bytes == sum(p.stat().st_size for p in seq.paths())


@pytest.mark.parametrize(
    ("make", "options", "codec", "pix_fmt", "bits", "alpha"),
    [
        (exr_sequence, {"half": False, "alpha": True}, "exr", "gbrapf32le", 32, True),
        (dpx_sequence, {}, "dpx", "gbrp10le", 10, False),
        (dpx_sequence, {"bits": 16, "big_endian": False}, "dpx", "rgb48le", 16, False),
        (png_sequence, {}, "png", "rgb48be", 16, False),
        (png_sequence, {"bits": 8, "alpha": True}, "png", "rgba", 8, True),
        (tiff_sequence, {}, "tiff", "rgb48le", 16, False),
        (tiff_sequence, {"bits": 8, "extension": ".TIFF"}, "tiff", "rgb24", 8, False),
    ],
)
def test_each_format_is_described_by_its_first_frame(
    tmp_path: Path,
    make: Callable[..., ImageSequence],
    options: dict[str, object],
    codec: str,
    pix_fmt: str,
    bits: int,
    alpha: bool,
) -> None:
    info = describe_sequence(make(tmp_path, count=3, **options))
    assert (info.codec, info.pix_fmt, info.bit_depth, info.alpha) == (codec, pix_fmt, bits, alpha)
    assert info.scene_linear == (codec == "exr")
    assert (info.width, info.height, info.frames) == (WIDTH, HEIGHT, 3)


def test_a_dpx_records_the_transfer_its_header_names(tmp_path: Path) -> None:
    # FFmpeg says "unspecified" for film log; the header's own code says what it is.
    log_scan = describe_sequence(dpx_sequence(tmp_path / "log", count=2, transfer=1))
    assert (log_scan.dpx_transfer, log_scan.dpx_codes, log_scan.transfer) == (
        "printing density",
        (1, 1),
        None,
    )
    assert log_scan.log_encoded and not log_scan.scene_linear and log_scan.big_endian
    video = describe_sequence(dpx_sequence(tmp_path / "video", count=2, transfer=6))
    assert (video.dpx_transfer, video.transfer, video.log_encoded) == (
        "itu-r 709-4",
        "bt709",
        False,
    )


def test_frames_are_read_in_number_order_with_their_values(tmp_path: Path) -> None:
    seq = exr_sequence(tmp_path, count=6, fps=Fraction(24))
    frames = list(read_frames(seq))
    assert [f.pts for f in frames] == list(range(6))
    assert frames[0].time_base == Fraction(1, 24)
    for index, frame in enumerate(frames):
        assert frame.format.name == "gbrpf32le"
        # Exact: every value is the half the file holds, highlights above 1.0 included.
        np.testing.assert_array_equal(frame.to_ndarray(), linear_picture(WIDTH, HEIGHT, index))
    assert frames[0].to_ndarray()[..., 1].max() == 16.0  # green: the grey itself


def test_a_range_of_positions_reads_those_frames(tmp_path: Path) -> None:
    seq = png_sequence(tmp_path, count=8, bits=8)
    frames = list(read_frames(seq, 2, 5))
    assert [f.pts for f in frames] == [2, 3, 4]
    for frame, index in zip(frames, (2, 3, 4), strict=True):
        np.testing.assert_array_equal(
            frame.to_ndarray(), code_picture(WIDTH, HEIGHT, index, bits=8)
        )


def test_half_frames_come_as_decoded_when_asked(tmp_path: Path) -> None:
    frame = next(read_frames(exr_sequence(tmp_path, count=1), native=True))
    assert frame.format.name == "gbrpf16le"


def test_a_farms_chunks_written_out_of_order_read_in_number_order(tmp_path: Path) -> None:
    seq, order = farm_chunks(tmp_path / "farm", make=png_sequence, bits=8, count=24, chunk=4)
    assert order != sorted(order)
    by_time = sorted(seq.numbers, key=lambda n: seq.path(n).stat().st_mtime_ns)
    assert by_time != list(seq.numbers)
    found = find_sequence(tmp_path / "farm")
    assert found == seq and found.missing() == []
    for index, frame in enumerate(read_frames(found)):
        np.testing.assert_array_equal(
            frame.to_ndarray(), code_picture(WIDTH, HEIGHT, index, bits=8)
        )


def test_a_frame_of_another_size_is_refused_from_its_header(tmp_path: Path) -> None:
    seq = exr_sequence(tmp_path, count=4)
    exr_sequence(tmp_path / "small", count=1, first=1003, width=96, height=54)
    os.replace(tmp_path / "small" / "sh010.1003.exr", seq.path(1003))
    with pytest.raises(InputError, match=r"frame sh010\.1003\.exr of .* is 96x54 .* not 192x108"):
        describe_sequence(seq)
    with pytest.raises(InputError, match=r"sh010\.1003\.exr .* is 96x54"):
        list(read_frames(seq))


def test_an_autocropped_exr_is_the_size_of_its_display_window(tmp_path: Path) -> None:
    # Nuke's autocrop writes each frame's data window around what is not black: FFmpeg places
    # it in the display window, so the frames are one size.
    for number, window in ((1, (10, 5, 41, 20)), (2, (0, 0, 63, 35)), (3, (30, 1, 60, 9))):
        cropped_exr(tmp_path / f"crop.{number:04d}.exr", window=window)
    seq = find_sequence(tmp_path)
    info = describe_sequence(seq)
    assert (info.width, info.height) == (64, 36)
    pictures = [f.to_ndarray() for f in read_frames(seq)]
    assert all(p.shape == (36, 64, 3) for p in pictures)
    assert pictures[0][5, 10, 0] == 0.5 and pictures[0][4, 10, 0] == 0.0


def test_a_broken_frame_is_named(tmp_path: Path) -> None:
    seq = dpx_sequence(tmp_path, count=4)
    seq.path(1002).write_bytes(b"SDPX" + bytes(100))
    with pytest.raises(MediaError, match=r"sh010_1002\.dpx"):
        list(read_frames(seq))


# -- writing frames --------------------------------------------------------------------------------


def upscaled_name(seq: ImageSequence, folder: Path) -> ImageSequence:
    """Where a result of ``seq`` goes: ``sh010_4k.####.ext`` in ``folder``, the same numbers."""
    head = f"{seq.stem}_4k{seq.separator}"
    return ImageSequence(folder, head, seq.tail, seq.padding, seq.numbers)


def round_trip(seq: ImageSequence, folder: Path, *, workers: int = 1) -> ImageSequence:
    """Every frame of ``seq`` read and written again in its own format under a new name."""
    target = upscaled_name(seq, folder)
    form = frame_format(describe_sequence(seq))
    with SequenceWriter(target, form, workers=workers) as writer:
        for number, frame in zip(seq.numbers, read_frames(seq), strict=True):
            writer.write(frame, number)
    assert writer.paths == list(target.paths())
    return find_sequence(folder)


@pytest.mark.parametrize(
    ("make", "options"),
    [
        (exr_sequence, {}),  # half: exact (every value of the fixture is a half)
        (exr_sequence, {"half": False, "alpha": True, "compression": "rle"}),  # float: exact
        (dpx_sequence, {}),  # 10-bit big-endian: exact
        (dpx_sequence, {"bits": 16, "big_endian": False}),
        (png_sequence, {}),  # 16-bit: exact
        (png_sequence, {"bits": 8, "alpha": True}),
        (tiff_sequence, {}),
        (tiff_sequence, {"bits": 8}),
    ],
)
def test_each_format_round_trips_with_its_depth_values_and_numbers(
    tmp_path: Path, make: Callable[..., ImageSequence], options: dict[str, object]
) -> None:
    source = make(tmp_path / "in", count=4, first=99, missing=[100], **options)
    written = round_trip(source, tmp_path / "out")
    assert written.numbers == (99, 101, 102) and written.padding == 4
    before, after = describe_sequence(source), describe_sequence(written)
    same = ("codec", "pix_fmt", "bit_depth", "alpha", "compression", "dpx_codes", "big_endian")
    assert {k: getattr(after, k) for k in same} == {k: getattr(before, k) for k in same}
    for old, new in zip(read_frames(source), read_frames(written), strict=True):
        np.testing.assert_array_equal(new.to_ndarray(), old.to_ndarray())


def test_a_dpx_keeps_its_film_log_transfer_and_byte_order(tmp_path: Path) -> None:
    source = dpx_sequence(tmp_path / "in", count=2, transfer=3)
    written = round_trip(source, tmp_path / "out")
    assert written.path(1001).read_bytes()[:4] == b"SDPX"  # big-endian, as scanned
    info = describe_sequence(written)
    assert (info.dpx_transfer, info.dpx_codes, info.bit_depth) == ("logarithmic", (3, 1), 10)


def test_floats_are_written_to_the_nearest_code(tmp_path: Path) -> None:
    # swscale would put ~46% of these one code off; the writer rounds each to its own code.
    codes = np.arange(1024, dtype=np.float32)
    picture = np.repeat((codes / 1023)[None, :, None], 3, axis=2).repeat(2, axis=0)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="gbrpf32le")
    path = write_frame(frame, tmp_path / "ramp.0001.dpx", FrameFormat("dpx", "gbrp10be"))
    read = next(read_frames(find_sequence(path)))
    np.testing.assert_array_equal(read.to_ndarray()[0, :, 0], codes.astype(np.uint16))


def test_a_float_is_written_as_the_nearest_half_and_highlights_survive(tmp_path: Path) -> None:
    values = np.random.default_rng(7).uniform(0.0, 40.0, (4, 64, 4)).astype(np.float32)
    frame = av.VideoFrame.from_ndarray(values, format="gbrapf32le")  # alpha dropped on writing
    form = FrameFormat("exr", "gbrpf32le", (("format", "half"), ("compression", "zip16")))
    path = write_frame(frame, tmp_path / "hot.0001.exr", form)
    read = next(read_frames(find_sequence(path))).to_ndarray()
    np.testing.assert_array_equal(read, values[..., :3].astype(np.float16).astype(np.float32))
    assert read.max() > 39.0  # swscale would have clamped the dropped-alpha frame to 1.0


def test_what_ffmpeg_cannot_write_is_noted(tmp_path: Path) -> None:
    info = describe_sequence(exr_sequence(tmp_path, count=1))
    assert frame_format(info).options == (("format", "half"), ("compression", "zip16"))
    piz = frame_format(replace(info, compression="piz"))
    assert piz.options == (("format", "half"), ("compression", "zip16"))
    assert piz.notes == ("EXR compression piz written as zip: FFmpeg's encoder has no piz",)
    assert frame_format(replace(info, alpha=True)).pix_fmt == "gbrapf32le"
    assert frame_format(replace(info, alpha=True), alpha=False).pix_fmt == "gbrpf32le"
    dpx = describe_sequence(dpx_sequence(tmp_path / "dpx", count=1))
    assert "16-bit" in frame_format(replace(dpx, alpha=True)).notes[0]


def test_frames_are_written_whole_on_several_threads(tmp_path: Path) -> None:
    source = exr_sequence(tmp_path / "in", count=12)
    written = round_trip(source, tmp_path / "out", workers=3)
    assert written.count == 12
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in written.paths()]


def test_a_frame_that_cannot_be_written_leaves_no_file(tmp_path: Path) -> None:
    frame = next(read_frames(png_sequence(tmp_path / "in", count=1)))
    bad = FrameFormat("png", "rgb48be", (("pred", "no-such-predictor"),))
    with pytest.raises(MediaError, match=r"could not write .*bad\.0001\.png as png"):
        write_frame(frame, tmp_path / "bad.0001.png", bad)
    assert [p.name for p in tmp_path.iterdir()] == ["in"]


def test_an_untagged_movie_frame_is_read_as_bt709(tmp_path: Path) -> None:
    # The service's 4K result may carry no colour tags: swscale alone would take it for BT.601.
    colour = np.zeros((16, 16, 3), np.uint8)
    colour[...] = (200, 40, 90)
    yuv = av.VideoFrame.from_ndarray(colour, format="rgb24").reformat(
        format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
    )
    untagged = av.VideoFrame.from_ndarray(yuv.to_ndarray(), format="yuv420p")
    path = write_frame(untagged, tmp_path / "f.0001.png", FrameFormat("png", "rgb24"))
    read = next(read_frames(find_sequence(path))).to_ndarray()
    assert np.abs(read[8, 8].astype(int) - (200, 40, 90)).max() <= 2
