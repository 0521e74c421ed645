"""What a rendered image sequence is: a folder, a name around a frame number, the numbers present.

``sh010.1001.exr`` ... ``sh010.1048.exr`` is the :class:`ImageSequence` with head ``"sh010."``,
tail ``".exr"``, padding 4 and numbers 1001..1048; its :attr:`~ImageSequence.name` is
``sh010.####.exr``. Numbers are written as C's ``%0<padding>d`` writes them (as Nuke, Houdini
and Blender do): a negative frame's sign counts in the width (``-001``), and a number longer
than the padding is written whole (``10000`` in a ``####`` sequence).

Finding one on disk is :mod:`uprez.media.sequence`'s work; this module only names and counts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from uprez.errors import InputError

__all__ = ["IMAGE_EXTENSIONS", "ImageSequence", "frame_ranges", "spans"]

#: The image files a sequence is made of, by extension (compared without regard to case).
IMAGE_EXTENSIONS = frozenset({".exr", ".dpx", ".tif", ".tiff", ".png"})

# What separates a name from its frame number; stripped from the head to make the stem.
_SEPARATORS = "._- "


@dataclass(frozen=True)
class ImageSequence:
    """Numbered image files in one folder: ``folder / f"{head}{number:0{padding}d}{tail}"``.

    ``numbers`` are the frames present, sorted (a gap is allowed here: :meth:`missing` names it
    and :func:`uprez.media.sequence.check_complete` refuses it). ``padding`` 0 means the numbers
    are not padded. ``fps`` is the frame rate given to it (an image sequence has none of its own:
    it comes from ``--fps``, the config, a pyblish instance or a Blender scene).

    Hashable and cheap: nothing here reads the disk except :meth:`content_key` and
    :meth:`size_bytes`.
    """

    folder: Path
    head: str
    tail: str
    padding: int
    numbers: tuple[int, ...]
    fps: Fraction | None = None
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.numbers:
            raise ValueError("an image sequence has at least one frame")
        numbers = tuple(sorted(set(self.numbers)))
        padding = 0 if self.padding <= 1 else self.padding  # %01d writes what %d writes
        object.__setattr__(self, "numbers", numbers)
        object.__setattr__(self, "padding", padding)
        object.__setattr__(self, "folder", Path(self.folder))
        key = (self.folder, self.head, self.tail, padding, numbers, self.fps)
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return str(self.pattern)

    # -- naming ------------------------------------------------------------------------------------

    @property
    def first(self) -> int:
        """The lowest frame number present."""
        return self.numbers[0]

    @property
    def last(self) -> int:
        """The highest frame number present."""
        return self.numbers[-1]

    @property
    def count(self) -> int:
        """How many frames are present (gaps not counted)."""
        return len(self.numbers)

    @property
    def name(self) -> str:
        """The file name with ``#`` for the number: ``sh010.####.exr`` (one ``#`` if unpadded)."""
        return f"{self.head}{'#' * max(1, self.padding)}{self.tail}"

    @property
    def printf_name(self) -> str:
        """The file name as FFmpeg's image2 demuxer and muxer take it: ``sh010.%04d.exr``."""
        width = f"0{self.padding}" if self.padding else ""
        head, tail = self.head.replace("%", "%%"), self.tail.replace("%", "%%")
        return f"{head}%{width}d{tail}"

    @property
    def pattern(self) -> Path:
        """``folder / name``: what :func:`str` of the sequence shows."""
        return self.folder / self.name

    @property
    def stem(self) -> str:
        """The head without the separator before the number (``sh010.`` → ``sh010``); the folder's
        name when the files are numbers alone (``0001.png``)."""
        return self.head.rstrip(_SEPARATORS) or self.folder.resolve().name

    @property
    def separator(self) -> str:
        """What stands between the stem and the number in the head (``"."``, ``"_"`` or ``""``)."""
        stripped = self.head.rstrip(_SEPARATORS)
        return self.head[len(stripped) :] if stripped else self.head

    @property
    def suffix(self) -> str:
        """The image extension, as written (``.exr``)."""
        return Path(self.tail).suffix or self.tail

    def frame_name(self, number: int) -> str:
        """The file name of frame ``number``, present or not."""
        width = f"0{self.padding}" if self.padding else ""
        return f"{self.head}{number:{width}d}{self.tail}"

    def path(self, number: int) -> Path:
        """The path of frame ``number``, present or not."""
        return self.folder / self.frame_name(number)

    def paths(self) -> Iterator[Path]:
        """The path of each frame present, in number order."""
        return (self.path(n) for n in self.numbers)

    # -- ranges ------------------------------------------------------------------------------------

    def missing(self, first: int | None = None, last: int | None = None) -> list[int]:
        """The frames absent from ``first..last`` (both included; by default this sequence's
        own first and last frame, so the gaps between them)."""
        return [n for low, high in self.gaps(first, last) for n in range(low, high + 1)]

    def gaps(self, first: int | None = None, last: int | None = None) -> list[tuple[int, int]]:
        """The runs of absent frames in ``first..last`` as ``(first, last)`` pairs: what
        :meth:`missing` lists, without listing a long gap frame by frame."""
        low = self.first if first is None else first
        high = self.last if last is None else last
        runs, expected = [], low
        for number in self.numbers:
            if number > high:
                break
            if number >= expected:
                if number > expected:
                    runs.append((expected, number - 1))
                expected = number + 1
        if expected <= high:
            runs.append((expected, high))
        return runs

    def with_fps(self, fps: Fraction | None) -> ImageSequence:
        """The same frames at frame rate ``fps``."""
        return replace(self, fps=fps)

    def subrange(self, first: int, last: int) -> ImageSequence:
        """The frames present in ``first..last`` (both included): what a pyblish instance's
        frame range, with or without its handles, upscales. Frames of the range that are not
        present are not invented: check them with ``check_complete(seq, first, last)``.

        Raises:
            InputError: no frame of the sequence lies in the range.
        """
        if last < first:
            raise ValueError(f"frame range {first}-{last} ends before it starts")
        numbers = tuple(n for n in self.numbers if first <= n <= last)
        if not numbers:
            raise InputError(
                f"{self} has no frame in {first}-{last} (it holds {frame_ranges(self.numbers)})",
                path=str(self),
            )
        return replace(self, numbers=numbers)

    # -- what is on disk ---------------------------------------------------------------------------

    def content_key(self) -> str:
        """A SHA-256 (hex) of each frame's name, size and modification time: what the work
        folder and the journal key of a job on this sequence are named after. Any frame
        rendered again, added or removed gives another key; nothing is read but the folder.

        Raises:
            InputError: a frame has gone since the sequence was found.
        """
        digest = hashlib.sha256()
        for path in self.paths():
            stat = _stat(path, self)
            digest.update(json.dumps([path.name, stat.st_size, stat.st_mtime_ns]).encode())
        return digest.hexdigest()

    def size_bytes(self) -> int:
        """The size of all its frames together, in bytes."""
        return sum(_stat(path, self).st_size for path in self.paths())


def frame_ranges(numbers: Iterable[int]) -> str:
    """Frame numbers written compactly: ``[1010, 1011, 1012, 1020]`` → ``"1010-1012, 1020"``
    (a run that reaches below 0 is written ``-5 to -1``)."""
    runs: list[list[int]] = []
    for number in sorted(set(numbers)):
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return spans((a, b) for a, b in runs)


def spans(runs: Iterable[tuple[int, int]]) -> str:
    """Runs of frames ``(first, last)`` written as :func:`frame_ranges` writes them."""
    return ", ".join(str(a) if a == b else f"{a} to {b}" if a < 0 else f"{a}-{b}" for a, b in runs)


def _stat(path: Path, sequence: ImageSequence) -> os.stat_result:
    try:
        return path.stat()
    except OSError as exc:
        raise InputError(
            f"frame {path.name} of {sequence} cannot be read: {exc.strerror or exc}",
            path=str(path),
        ) from exc
