"""Cover art: a picture attached to a file (an album or thumbnail image), not its video."""

from __future__ import annotations

from av.stream import Disposition, Stream

__all__ = ["is_cover_art"]


def is_cover_art(stream: Stream) -> bool:
    """Whether ``stream`` is a picture attached to the file (album or thumbnail art)."""
    return bool(stream.disposition & Disposition.attached_pic)
