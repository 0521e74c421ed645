"""What a failed upscale does to a publish: ``pyblish.on_error``.

``"fail"`` (the default) raises, so the publish stops before anything is integrated (AYON's
publisher stops at any error that is not a validation error; plain pyblish only records it,
see the adapter's docstring). In AYON the error is raised as ayon-core's ``PublishError``, the
one kind whose message its publisher shows the artist (any other reads "Something went
wrong"); uprez's own error is its ``__cause__``. ``"warn"`` logs a warning for each movie that
failed and lets the publish go on without its 4K representation.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from uprez.errors import UprezError

#: A failure: the movie it stopped (None: the whole instance) and uprez's error.
Failure = tuple[Path | None, UprezError]

_WHAT_NEXT = (
    "The 4K representation was not made. Publishing again picks up where this one stopped: "
    "tasks already paid for are collected, not paid again. To publish without the 4K file "
    'when uprez fails, set `pyblish.on_error = "warn"` in the uprez config.'
)


def explain(movie: Path | None, error: UprezError) -> str:
    """uprez's message, led by the movie it is about unless it names it already."""
    message = str(error)
    if movie is None or movie.name in message:
        return message
    return f"{movie}: {message}"


def publish_error(message: str, title: str) -> Exception | None:
    """ayon-core's ``PublishError`` with ``message``, where ayon-core is installed; else None."""
    try:
        module = importlib.import_module("ayon_core.pipeline.publish")
    except Exception:  # absent, or not importable outside AYON: uprez's error as it is
        return None
    kind: Any = getattr(module, "PublishError", None)
    if kind is None:
        return None
    shown = kind(message, title=title, description=f"{message}\n\n{_WHAT_NEXT}")
    return shown if isinstance(shown, Exception) else None


def give_up(failures: Sequence[Failure], *, policy: str, title: str, log: logging.Logger) -> None:
    """Apply ``policy`` to the failures of one instance. ``"warn"``: a warning for each, and
    return. ``"fail"``: an error record for each (pyblish shows the records: they name the
    movie), then raise the first, as ayon-core's ``PublishError`` in AYON, else unchanged."""
    if not failures:
        return
    if policy == "warn":
        for movie, error in failures:
            log.warning("published without its 4K representation: %s", explain(movie, error))
        return
    for movie, error in failures:
        log.error("%s", explain(movie, error))
    movie, first = failures[0]
    shown = publish_error(explain(movie, first), title)
    if shown is None:
        raise first
    raise shown from first
