"""Whether a sequence in a watch folder can start (``uprez.watch_sequences``): only names, sizes
and times matter, so the frames here are small files; the watcher itself, with real frames and
a server, is ``tests/scenarios/hosts/test_watch_sequences.py``."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from uprez.media.image_sequence import ImageSequence
from uprez.watch_sequences import is_frame, is_ready_file, look, ready_path, sequences_among


def frames(folder: Path, numbers: range, name: str = "sh010", ext: str = "exr") -> ImageSequence:
    folder.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        (folder / f"{name}.{number:04d}.{ext}").write_bytes(b"frame")
    return ImageSequence(folder, f"{name}.", f".{ext}", 4, tuple(numbers))


def test_frames_are_grouped_into_their_sequences_each_once(tmp_path: Path) -> None:
    a = frames(tmp_path, range(1, 5))
    b = frames(tmp_path, range(1, 3), name="sh020")
    (tmp_path / "notes.png").write_bytes(b"")

    found = sequences_among(sorted(p for p in tmp_path.iterdir() if is_frame(p)))

    assert sorted(s.name for s in found) == [a.name, b.name]
    assert not is_frame(tmp_path / "notes.png") and not is_frame(tmp_path / "a.0001.mp4")


def test_a_whole_settled_sequence_can_start_and_its_signature_follows_every_frame(
    tmp_path: Path,
) -> None:
    seq = frames(tmp_path, range(1001, 1011))

    first = look(seq, Fraction(24))
    (tmp_path / "sh010.1005.exr").write_bytes(b"rendered again")
    again = look(seq, Fraction(24))

    assert first.held == "" and first.sequence.numbers == seq.numbers
    assert again.signature != first.signature
    assert first.key("sh010.####.exr").startswith("sh010.####.exr|1001-1010|")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1001, 1048]", "not a JSON object"),
        ('{"first": "soon"}', "invalid literal"),
        ('{"fps": 0}', "is not a frame rate"),
        ('{"first": 1048, "last": 1001}', "says frames 1048-1001: the end is first"),
        ("{", "Expecting property name"),
    ],
)
def test_a_ready_file_that_is_not_understood_holds_the_sequence_saying_why(
    tmp_path: Path, text: str, problem: str
) -> None:
    seq = frames(tmp_path, range(1, 5))
    ready_path(seq).write_text(text)

    arrival = look(seq, Fraction(24))

    assert problem in arrival.held and not arrival.waiting
    assert is_ready_file(ready_path(seq))


def test_an_empty_ready_file_changes_nothing_but_the_signature(tmp_path: Path) -> None:
    seq = frames(tmp_path, range(1, 5))
    before = look(seq, Fraction(24))
    ready_path(seq).touch()

    after = look(seq, Fraction(24))

    assert after.held == "" and after.ready is not None and after.ready.fps is None
    assert after.signature != before.signature
