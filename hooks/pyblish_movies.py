"""What a pyblish instance holds to upscale: its single-file movies, and those already done
(a representation tagged as uprez's, or the movie such a representation was made from)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from uprez import protocol


@dataclasses.dataclass(frozen=True)
class Movie:
    """A movie found on an instance: where it is, where its result goes, what it came from."""

    path: Path
    staging_dir: Path
    in_staging: bool
    representation: Mapping[str, Any] | None = None


def _is_video_ext(ext: object) -> bool:
    return isinstance(ext, str) and f".{ext.lstrip('.').lower()}" in protocol.VIDEO_EXTENSIONS


def same_file(a: Path, b: Path) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def ours(representations: Sequence[Mapping[str, Any]], tag: str) -> list[Mapping[str, Any]]:
    return [r for r in representations if tag in (r.get("tags") or [])]


def made_by_us(representations: Iterable[Mapping[str, Any]]) -> tuple[list[Path], list[Path]]:
    """The files our representations hold, and the sources they were made from."""
    outputs: list[Path] = []
    sources: list[Path] = []
    for rep in representations:
        files, staging = rep.get("files"), rep.get("stagingDir")
        if isinstance(files, str) and staging:
            outputs.append(Path(staging) / files)
        meta = rep.get("uprez")
        if isinstance(meta, Mapping) and meta.get("source"):
            sources.append(Path(str(meta["source"])))
    return outputs, sources


def find_movies(data: Mapping[str, Any], tag: str) -> tuple[list[Movie], list[Path]]:
    """The movies of an instance's ``data`` still to upscale, and those already done."""
    representations: list[Mapping[str, Any]] = list(data.get("representations") or [])
    outputs, sources = made_by_us(ours(representations, tag))
    candidates: list[Movie] = []
    for rep in representations:
        files, staging = rep.get("files"), rep.get("stagingDir")
        if tag in (rep.get("tags") or []) or not _is_video_ext(rep.get("ext")):
            continue
        if isinstance(files, str) and files and staging:
            candidates.append(Movie(Path(staging) / files, Path(staging), True, rep))
    if not candidates:
        base = data.get("stagingDir")
        listed = data.get("files") or []
        for item in [listed] if isinstance(listed, str | os.PathLike) else listed:
            path = Path(item)
            if not path.is_absolute() and base:
                path = Path(base) / path
            if path.suffix.lower() in protocol.VIDEO_EXTENSIONS:
                in_staging = bool(base) and same_file(path.parent, Path(str(base)))
                candidates.append(Movie(path, path.parent, in_staging))
    todo: list[Movie] = []
    skipped: list[Path] = []
    for movie in candidates:
        is_result = any(same_file(movie.path, out) for out in outputs)
        made = any(same_file(movie.path, s) for s in sources)
        if is_result or made:
            skipped.append(movie.path)
        else:
            todo.append(movie)
    return todo, skipped


def free_name(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name
