"""Which sources of a pyblish instance to upscale: its single-file movies and its rendered image
sequences (:mod:`uprez.hooks.pyblish_sequences`), less those the integrator would not publish
here (``pyblish.skip_tags``: AYON's intermediates, thumbnail sources and movies baked on the
farm), those ``pyblish.source_tags`` leaves out, and those already done (a representation
tagged as uprez's, or the source such a representation was made from).

An instance that holds a rendered sequence to upscale has its movies passed over: they are
reviews of the same frames (ayon-core's ExtractReview makes them from the sequence), and the
frames are what is delivered; ``pyblish.source_tags`` chooses otherwise."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from uprez import protocol
from uprez.errors import InputError

from .pyblish_sequences import Rendered, is_sequence_representation, rendered


@dataclasses.dataclass(frozen=True)
class Movie:
    """A movie found on an instance: where it is, where its result goes, what it came from."""

    path: Path
    staging_dir: Path
    representation: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class Found:
    """What :func:`find_movies` found: the movies and rendered sequences to upscale, the
    sources already upscaled, the representations passed over, each with the reason (for the
    plugin's log), and the sequences whose frames cannot be taken (refused before spending)."""

    movies: list[Movie]
    done: list[Path]
    passed_over: list[tuple[str, str]]
    sequences: list[Rendered] = dataclasses.field(default_factory=list)
    unreadable: list[tuple[Path, InputError]] = dataclasses.field(default_factory=list)


def _is_video_ext(ext: object) -> bool:
    return isinstance(ext, str) and f".{ext.lstrip('.').lower()}" in protocol.VIDEO_EXTENSIONS


def same_file(a: Path, b: Path) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def tags_of(representation: Mapping[str, Any] | None) -> list[str]:
    return [str(t) for t in (representation or {}).get("tags") or []]


def ours(representations: Sequence[Mapping[str, Any]], tag: str) -> list[Mapping[str, Any]]:
    return [r for r in representations if tag in tags_of(r)]


def uprez_data(representation: Mapping[str, Any]) -> Mapping[str, Any]:
    """What uprez put under ``representation["data"]["uprez"]`` (empty if nothing)."""
    data = representation.get("data")
    found = data.get("uprez") if isinstance(data, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def made_by_us(representations: Iterable[Mapping[str, Any]]) -> tuple[list[Path], list[Path]]:
    """The files our representations hold (a sequence's frames and its pattern), and the
    sources they were made from (a sequence's by its pattern)."""
    outputs: list[Path] = []
    sources: list[Path] = []
    for rep in representations:
        files, staging = rep.get("files"), rep.get("stagingDir")
        if isinstance(files, str) and staging:
            outputs.append(Path(staging) / files)
        elif isinstance(files, list | tuple) and staging:
            outputs.extend(Path(staging) / str(name) for name in files)
        pattern = uprez_data(rep).get("output")
        if pattern:
            outputs.append(Path(str(pattern)))
        source = uprez_data(rep).get("source")
        if source:
            sources.append(Path(str(source)))
    return outputs, sources


def _why_not(
    rep: Mapping[str, Any], skip_tags: Collection[str], source_tags: Collection[str]
) -> str:
    """Why a representation is not a source ("" if it is one)."""
    tags = tags_of(rep)
    skipping = [t for t in tags if t in skip_tags]
    if skipping:
        return f"tagged {', '.join(skipping)} (pyblish.skip_tags)"
    if source_tags and not any(t in source_tags for t in tags):
        return f"none of pyblish.source_tags {sorted(source_tags)} among its tags {tags}"
    files, staging = rep.get("files"), rep.get("stagingDir")
    if is_sequence_representation(rep):
        return "" if staging else "no stagingDir"
    if not _is_video_ext(rep.get("ext")):
        return f"not a movie nor an image sequence (ext {rep.get('ext')!r})"
    if not (isinstance(files, str) and files):
        return "not a single file"
    if not staging:
        return "no stagingDir"
    return ""


def find_movies(
    data: Mapping[str, Any],
    tag: str,
    skip_tags: Collection[str] = (),
    source_tags: Collection[str] = (),
    context: Mapping[str, Any] | None = None,
) -> Found:
    """The movies and rendered sequences of an instance's ``data`` still to upscale, those
    already done, and the representations passed over. ``tag`` marks uprez's own
    representations; a representation with any of ``skip_tags`` is never a source; with
    ``source_tags``, only a representation with one of them is (and the older ``files``
    convention is not read). ``context`` is the publish context's data (handles, fps)."""
    representations: list[Mapping[str, Any]] = list(data.get("representations") or [])
    outputs, sources = made_by_us(ours(representations, tag))
    candidates: list[Movie] = []
    frames: list[Rendered] = []
    unreadable: list[tuple[Path, InputError]] = []
    passed_over: list[tuple[str, str]] = []
    for rep in representations:
        if tag in tags_of(rep):
            continue
        reason = _why_not(rep, skip_tags, source_tags)
        if reason:
            passed_over.append((str(rep.get("name")), reason))
            continue
        staging = Path(str(rep["stagingDir"]))
        if not is_sequence_representation(rep):
            candidates.append(Movie(staging / str(rep["files"]), staging, rep))
            continue
        try:
            frames.append(rendered(rep, data, context or {}))
        except InputError as exc:
            unreadable.append((staging / str(rep["files"][0]), exc))
    if frames or unreadable:
        for movie in candidates:
            name = (movie.representation or {}).get("name")
            passed_over.append((str(name), "a review of the instance's frames, upscaled instead"))
        candidates = []
    elif not candidates and not source_tags:
        candidates = _from_files(data)
    movies: list[Movie] = []
    done: list[Path] = []
    for movie in candidates:
        if _done(movie.path, outputs, sources):
            done.append(movie.path)
        else:
            movies.append(movie)
    sequences: list[Rendered] = []
    for found in frames:
        if _done(found.sequence.pattern, outputs, sources):
            done.append(found.sequence.pattern)
        else:
            sequences.append(found)
    return Found(movies, done, passed_over, sequences, unreadable)


def _done(path: Path, outputs: Sequence[Path], sources: Sequence[Path]) -> bool:
    """A result of ours, or a source one of ours was made from."""
    return any(same_file(path, out) for out in outputs) or any(same_file(path, s) for s in sources)


def _from_files(data: Mapping[str, Any]) -> list[Movie]:
    """The older convention: ``files`` lists paths (a relative one is in ``stagingDir``)."""
    base = data.get("stagingDir")
    listed = data.get("files") or []
    found: list[Movie] = []
    for item in [listed] if isinstance(listed, str | os.PathLike) else listed:
        path = Path(item)
        if not path.is_absolute() and base:
            path = Path(base) / path
        if path.suffix.lower() in protocol.VIDEO_EXTENSIONS:
            found.append(Movie(path, path.parent))
    return found


def free_name(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name
