"""Finding a rendered image sequence from what names it: a pattern, a folder, or one of its frames.

* a pattern: ``sh010.####.exr``, ``sh010.%04d.exr`` or Houdini's ``sh010.$F4.exr`` (one ``#``,
  ``%d`` or ``$F``: numbers not padded). The last such token in the file name is the frame
  number; the folder part and the rest of the name are taken literally.
* a folder holding exactly one sequence of image files;
* one frame of it (``sh010.1001.exr``): its siblings are found.

Image files are .exr, .dpx, .tif, .tiff and .png, in any case. In a file name the frame number
is the run of digits just before the extension. It may be negative (``sh010.-005.exr``, as Nuke,
Houdini and Blender write frames before 0) when the minus follows ``.`` or ``_`` or starts the
name; after a letter or digit a hyphen is a separator (``plate-1001.exr`` is frame 1001).

Hidden files are never frames: uprez's own work folder (``.uprez-work``) and unfinished writes
(``.sh010.1001.exr.<pid>.<random>.part``) are hidden, and sidecars (``.uprez.json``) are not
images. Files of one name with differently padded numbers (``sh.001.exr`` and ``sh.0001.exr``)
are two sequences; ``10000`` belongs with ``1001`` in a ``####`` sequence, as ``%04d`` writes it.
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from uprez.errors import InputError
from uprez.media.image_sequence import IMAGE_EXTENSIONS, ImageSequence, frame_ranges, spans

if TYPE_CHECKING:
    import av

    from uprez.media.sequence_frames import SequenceInfo

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageSequence",
    "SequenceInfo",
    "check_complete",
    "describe_sequence",
    "find_sequence",
    "frame_ranges",
    "is_sequence",
    "read_frames",
]

log = logging.getLogger(__name__)

# A frame number at the end of a file name, before its extension. The sign is a sign only after
# "." or "_" or at the start of the name; a lazy head takes the number as the last digit run.
_FRAME = re.compile(r"^(?P<head>.*?)(?P<token>(?<![^._])-\d+|\d+)(?P<tail>\.[^.]+)$", re.DOTALL)
# The frame token of a pattern: #### (count = padding), %04d / %d, $F4 / $F (Houdini).
_TOKEN = re.compile(r"#+|%0?(?P<printf>\d*)d|\$F(?P<houdini>\d*)")

_Spec = str | os.PathLike[str]


def find_sequence(spec: _Spec, *, fps: Fraction | None = None) -> ImageSequence:
    """The image sequence ``spec`` names: a pattern, a folder, or one of its frames (see the
    module's notes), with frame rate ``fps``.

    Raises:
        InputError: nothing there, no frame matches, or a folder holds no sequence or several
            (each candidate is named, so the user can give its pattern instead).
    """
    path = Path(spec)
    if path.is_dir():
        found = _sequence_in_folder(path)
    elif path.is_file():
        found = _sequence_of_frame(path)
    elif _pattern_token(path.name) is not None:
        found = _sequence_of_pattern(path)
    else:
        raise InputError(f"no such file, folder or frame pattern: {path}", path=str(path))
    log.debug("sequence %s: %d frames, %s", found, found.count, frame_ranges(found.numbers))
    return found.with_fps(fps)


def is_sequence(spec: _Spec) -> bool:
    """Whether ``spec`` names an image sequence rather than a movie: a pattern with a frame
    token and an image extension, a folder, or an image file whose name ends in a frame number.
    Nothing is checked beyond the name and whether a folder is one: :func:`find_sequence` says
    what is wrong with it."""
    path = Path(spec)
    if path.is_dir():
        return True
    token = None if path.is_file() else _pattern_token(path.name)
    if token is not None:
        return _is_image(path.name[token.end() :])
    match = _FRAME.match(path.name)
    return match is not None and _is_image(match["tail"])


def check_complete(seq: ImageSequence, first: int | None = None, last: int | None = None) -> None:
    """Refuse a sequence with frames missing from ``first..last`` (by default its own first to
    last frame), naming them compactly: checked before anything is spent on it.

    Raises:
        InputError: ``missing frames 1010-1012, 1020 (4 of 48) in sh010.####.exr``.
    """
    low = seq.first if first is None else first
    high = seq.last if last is None else last
    gaps = seq.gaps(low, high)
    if gaps:
        missing = sum(b - a + 1 for a, b in gaps)
        raise InputError(
            f"missing frames {spans(gaps)} ({missing} of {high - low + 1}) "
            f"in {seq}: render them, or give the range that is there",
            path=str(seq),
        )


def describe_sequence(seq: ImageSequence, *, check_frames: bool = True) -> SequenceInfo:
    """What the frames of ``seq`` are (size, codec, pixel format, depth, alpha, colour), from
    its first frame; every frame's header checked to match. See
    :func:`uprez.media.sequence_frames.describe_sequence` (imported here when called: PyAV)."""
    from uprez.media.sequence_frames import describe_sequence as describe

    return describe(seq, check_frames=check_frames)


def read_frames(
    seq: ImageSequence, first: int = 0, stop: int | None = None, *, native: bool = False
) -> Iterator[av.VideoFrame]:
    """The frames at positions ``[first, stop)`` of ``seq``, decoded, in number order; half
    float widened to float unless ``native``. See :func:`uprez.media.sequence_frames.read_frames`
    (imported here when called: PyAV)."""
    from uprez.media.sequence_frames import read_frames as read

    return read(seq, first, stop, native=native)


def __getattr__(attribute: str) -> object:
    # SequenceInfo without importing PyAV until it is asked for.
    if attribute == "SequenceInfo":
        from uprez.media.sequence_frames import SequenceInfo

        return SequenceInfo
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")


# -- the three kinds of spec -----------------------------------------------------------------------


def _sequence_of_pattern(path: Path) -> ImageSequence:
    token = _pattern_token(path.name)
    assert token is not None
    head, tail = path.name[: token.start()], path.name[token.end() :]
    if not _is_image(tail):
        raise InputError(
            f"{path} is not an image sequence pattern: its name must end in one of "
            f"{_extensions()} (after the frame number)",
            path=str(path),
        )
    padding = _token_padding(token)
    folder = path.parent
    sign = "-?" if head == "" or head[-1] in "._" else ""
    frame = re.compile(re.escape(head) + f"({sign}\\d+)" + re.escape(tail), re.DOTALL)
    numbers = [
        number
        for name in _visible_files(folder)
        if (match := frame.fullmatch(name)) and _writes(number := int(match[1]), padding, match[1])
    ]
    if not numbers:
        near = [
            s for s in _group(folder, _numbered_files(folder)) if s.tail.lower() == tail.lower()
        ]
        hint = f"; the folder holds {_describe(near)}" if near else ""
        raise InputError(f"no frames match {path}{hint}", path=str(path))
    return ImageSequence(folder, head, tail, padding, tuple(numbers))


def _sequence_in_folder(folder: Path) -> ImageSequence:
    candidates = _group(folder, _numbered_files(folder))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputError(
            f"no image sequence in {folder} (numbered {_extensions()} files)", path=str(folder)
        )
    raise InputError(
        f"{folder} holds {len(candidates)} image sequences: {_describe(candidates)}; "
        "name one by its pattern",
        path=str(folder),
    )


def _sequence_of_frame(path: Path) -> ImageSequence:
    match = _FRAME.match(path.name)
    if match is None or not _is_image(match["tail"]):
        raise InputError(
            f"{path} is not a frame of an image sequence: an image sequence's frames are "
            f"{_extensions()} files whose names end in a frame number",
            path=str(path),
        )
    head, tail = match["head"], match["tail"]
    siblings = [f for f in _numbered_files(path.parent) if f[0] == head and f[2] == tail]
    for candidate in _group(path.parent, siblings):
        if candidate.path(int(match["token"])).name == path.name:
            return candidate
    raise InputError(f"{path} is not a frame of an image sequence", path=str(path))


# -- names -----------------------------------------------------------------------------------------

_File = tuple[str, str, str]  # head, frame number as written, tail


def _visible_files(folder: Path) -> list[str]:
    """The names of the files in ``folder`` that are not hidden (links to files count)."""
    try:
        with os.scandir(folder) as entries:
            return [e.name for e in entries if not e.name.startswith(".") and _is_file(e)]
    except OSError as exc:
        raise InputError(f"cannot list {folder}: {exc.strerror or exc}", path=str(folder)) from exc


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()  # the folder listing's own type: no stat on most systems
    except OSError:
        return False


def _numbered_files(folder: Path) -> list[_File]:
    """(head, number as written, tail) of each visible image file in ``folder`` whose name ends
    in a frame number."""
    found = []
    for name in _visible_files(folder):
        match = _FRAME.match(name)
        if match is not None and _is_image(match["tail"]):
            found.append((match["head"], match["token"], match["tail"]))
    return found


def _group(folder: Path, files: list[_File]) -> list[ImageSequence]:
    """The sequences ``files`` make up: one per head, tail and padding, the largest first."""
    by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
    for head, token, tail in files:
        by_name[head, tail].append(token)
    sequences = [
        ImageSequence(folder, head, tail, padding, tuple(numbers))
        for (head, tail), tokens in by_name.items()
        for padding, numbers in _by_padding(tokens).items()
    ]
    return sorted(sequences, key=lambda s: (-s.count, s.name))


def _by_padding(tokens: list[str]) -> dict[int, list[int]]:
    """Frame numbers as written, split by the padding that writes them.

    A number with a leading zero (``0042``, ``-001``) fixes its padding: its whole width. One
    without (``1001``, ``10000``) fits any padding up to its width, and joins the widest padding
    found that fits it; those that fit none make a sequence of their own, padded to the width
    of the shortest.
    """
    fixed: dict[int, list[int]] = defaultdict(list)
    free: list[str] = []
    for token in tokens:
        digits = token.lstrip("-")
        if len(digits) > 1 and digits[0] == "0":
            fixed[len(token)].append(int(token))
        else:
            free.append(token)
    widths = sorted(fixed, reverse=True)
    leftover: list[str] = []
    for token in free:
        width = next((w for w in widths if w <= len(token)), None)
        if width is None:
            leftover.append(token)
        else:
            fixed[width].append(int(token))
    groups = dict(fixed)
    if leftover:
        groups[min(len(t) for t in leftover)] = [int(t) for t in leftover]
    return groups


def _writes(number: int, padding: int, token: str) -> bool:
    """Whether ``padding`` writes ``number`` as ``token`` (as C's ``%0<padding>d`` does)."""
    return f"{number:0{padding}d}" == token if padding > 1 else str(number) == token


def _pattern_token(name: str) -> re.Match[str] | None:
    """The last frame token (``####``, ``%04d``, ``$F4``) in a file name, if any."""
    last = None
    for last in _TOKEN.finditer(name):  # noqa: B007 - the last one is wanted
        pass
    return last


def _token_padding(token: re.Match[str]) -> int:
    text = token.group(0)
    if text.startswith("#"):
        return len(text)
    digits = token["printf"] if text.startswith("%") else token["houdini"]
    return int(digits) if digits else 0


def _is_image(tail: str) -> bool:
    return any(tail.lower().endswith(ext) for ext in IMAGE_EXTENSIONS)


def _extensions() -> str:
    return ", ".join(sorted(IMAGE_EXTENSIONS))


def _describe(sequences: list[ImageSequence], most: int = 5) -> str:
    """``sh010.####.exr (48 frames, 1001-1048), ...``: candidates a user chooses from."""
    shown = [
        f"{s.name} ({s.count} frame{'s' if s.count != 1 else ''}, {frame_ranges(s.numbers)})"
        for s in sequences[:most]
    ]
    more = len(sequences) - most
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
