"""When a rendered image sequence in a watch folder is whole, and so one input.

Frames that match ``watch.patterns`` (``*.exr``, ``*.dpx``, ``*.tif``, ``*.tiff``, ``*.png`` added
to it) are grouped into their sequences (``sh010.1001.exr`` ... as ``sh010.####.exr``). A
sequence is started, once, when

* **it has settled**: no frame was added, removed or changed (size, modification time) for
  ``watch.settle`` seconds;
* **it has no gap** between its lowest and its highest frame: a farm renders in chunks, out of
  order (1025-1048 may land before 1001-1024), and a gap is a chunk still to come;
* **no frame is empty**: Blender's *Placeholders* and some farm tools create a frame's file
  empty when its render starts.

The limit of what can be seen: a chunk at either *end* that has not started writing is not a
gap. If 1001-1024 lands and settles before 1025-1048 starts, 1001-1024 is taken as the
sequence, and the whole sequence is a second input once the rest lands (paid again). So a
studio either renders elsewhere and moves the finished folder in (one rename: nothing is seen
half-done), keeps ``watch.settle`` longer than any pause between a farm's chunks, or declares
the render: a **ready file** beside the frames, named as the sequence's pattern with ``.ready``
(``sh010.####.exr.ready``: a Deadline job's output file name plus ``.ready``), holding a JSON
object with the render's ``first`` and ``last`` frame and, if it likes, its ``fps`` (24,
23.976 or "24000/1001"; otherwise ``sequence.fps``). Written when the job is submitted, it
holds the sequence until every frame of that range is there and settled; frames outside the
range (an older, longer render) are not taken. An empty ready file says nothing more than the
frames do: the watcher cannot wait for a file it does not know is coming.

A sequence with no frame rate at all is held, with a warning, rather than refused: setting
``sequence.fps`` (or writing the ready file) and starting the watcher again takes it. Held
sequences are not failures: ``uprez watch --once`` ends without them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from uprez.errors import InputError
from uprez.media.image_sequence import IMAGE_EXTENSIONS, ImageSequence, frame_ranges, spans

__all__ = [
    "READY_SUFFIX",
    "Arrival",
    "Ready",
    "is_frame",
    "is_ready_file",
    "look",
    "ready_path",
    "sequences_among",
]

#: What a ready file's name adds to the sequence's pattern.
READY_SUFFIX = ".ready"


def is_frame(path: Path) -> bool:
    """Whether ``path`` is named like a frame of an image sequence (an image file whose name
    ends in a number); other images are not inputs of a watch folder."""
    from uprez.media.sequence import is_sequence

    return path.suffix.lower() in IMAGE_EXTENSIONS and is_sequence(path)


def sequences_among(frames: Iterable[Path]) -> list[ImageSequence]:
    """The sequences the ``frames`` belong to, each once (its frames as on disk now)."""
    from uprez.media.sequence import find_sequence

    found: dict[Path, ImageSequence] = {}
    grouped: set[Path] = set()
    for frame in frames:
        if frame in grouped:
            continue
        try:
            seq = find_sequence(frame)
        except InputError:  # gone since the listing, or not a frame after all
            continue
        grouped.update(seq.paths())
        found.setdefault(seq.pattern, seq)
    return list(found.values())


@dataclass(frozen=True)
class Ready:
    """What a sequence's ready file says: the render's range and frame rate, when it says."""

    path: Path
    first: int | None = None
    last: int | None = None
    fps: Fraction | None = None


@dataclass(frozen=True)
class Arrival:
    """A sequence as one scan saw it: its frames, what they are on disk (``signature``:
    every frame's name, size and modification time, and the ready file's), how many bytes,
    the newest modification, and whether it can start (``held``: why not, else "";
    ``waiting``: held because the render looks unfinished, not because of a problem)."""

    sequence: ImageSequence
    signature: str
    size: int
    mtime_ns: int
    held: str
    ready: Ready | None = None
    waiting: bool = False

    def key(self, rel: str) -> str:
        """The watch state's key: the pattern (relative to IN_DIR), its range and content."""
        seq = self.sequence
        return f"{rel}|{seq.first}-{seq.last}|{self.signature[:32]}"


def look(seq: ImageSequence, fps: Fraction | None) -> Arrival:
    """What ``seq`` is now and whether it can start; ``fps`` is ``sequence.fps`` (None: none
    configured). The sequence handed back is narrowed to the ready file's range and carries
    its frame rate."""
    digest = hashlib.sha256()
    size = newest = 0
    empty: list[int] = []
    present: list[int] = []
    for number in seq.numbers:
        path = seq.path(number)
        try:
            stat = path.stat()
        except OSError:
            continue  # gone since the listing: the signature changes, so it settles again
        present.append(number)
        digest.update(json.dumps([path.name, stat.st_size, stat.st_mtime_ns]).encode())
        size += stat.st_size
        newest = max(newest, stat.st_mtime_ns)
        if stat.st_size == 0:
            empty.append(number)
    ready, problem, stamp = _ready(seq)
    digest.update(stamp.encode())
    if not present:
        return Arrival(seq, digest.hexdigest(), 0, 0, "its frames are gone")
    seq = ImageSequence(seq.folder, seq.head, seq.tail, seq.padding, tuple(present), seq.fps)
    first, last = seq.first, seq.last
    if ready is not None:
        first = ready.first if ready.first is not None else first
        last = ready.last if ready.last is not None else last
        if ready.fps is not None:
            seq = seq.with_fps(ready.fps)
    waiting = _why_held(seq, first, last, empty, ready)
    held = problem or waiting
    if not held:
        seq = seq.subrange(first, last)
        if seq.fps is None and fps is None:
            held = (
                "no frame rate: set sequence.fps in the config, or give one in "
                f"{seq.name}{READY_SUFFIX}"
            )
    return Arrival(
        seq, digest.hexdigest(), size, newest, held, ready, bool(waiting) and not problem
    )


def _why_held(
    seq: ImageSequence, first: int, last: int, empty: list[int], ready: Ready | None
) -> str:
    """Why a settled sequence is not started yet ("" when it can be)."""
    if empty:
        return f"frames {frame_ranges(empty)} are empty (placeholders of frames still rendering)"
    gaps = seq.gaps(first, last)
    if gaps:
        missing = sum(b - a + 1 for a, b in gaps)
        said = f" (its {ready.path.name} says {first}-{last})" if ready else ""
        return f"frames {spans(gaps)} ({missing} of {last - first + 1}) are not there yet{said}"
    return ""


def _ready(seq: ImageSequence) -> tuple[Ready | None, str, str]:
    """The sequence's ready file, read (None: there is none), what is wrong with it, and its
    name, size and modification time (for the sequence's signature)."""
    path = ready_path(seq)
    try:
        stat = path.stat()
        text = path.read_text(encoding="utf-8") if stat.st_size else ""
    except FileNotFoundError:
        return None, "", ""
    except OSError as exc:
        return None, f"{path.name} cannot be read: {exc.strerror or exc}", ""
    stamp = json.dumps([path.name, stat.st_size, stat.st_mtime_ns])
    if not text.strip():
        return Ready(path), "", stamp
    try:
        said = json.loads(text)
        if not isinstance(said, dict):
            raise ValueError("not a JSON object")
        first, last = said.get("first"), said.get("last")
        ready = Ready(
            path,
            None if first is None else int(first),
            None if last is None else int(last),
            _rate(said.get("fps")),
        )
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        problem = f"{path.name} is not understood ({exc}): it holds {{}} or first, last, fps"
        return None, problem, stamp
    if ready.first is not None and ready.last is not None and ready.last < ready.first:
        return None, f"{path.name} says frames {ready.first}-{ready.last}: the end is first", stamp
    return ready, "", stamp


def _rate(value: object) -> Fraction | None:
    from uprez.config.sections import frame_rate

    if value is None:
        return None
    rate = frame_rate(value)
    if rate is None or rate <= 0:
        raise ValueError(f"fps {value!r} is not a frame rate")
    return rate


def ready_path(seq: ImageSequence) -> Path:
    """Where ``seq``'s ready file is."""
    return seq.folder / f"{seq.name}{READY_SUFFIX}"


def is_ready_file(path: Path) -> bool:
    """Whether ``path`` is a ready file (never an input itself)."""
    return path.name.endswith(READY_SUFFIX)
