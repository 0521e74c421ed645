"""The service's 4K movie made back into frames: one file a frame, in the source's own format and
depth (:mod:`uprez.media.sequence_writer`), numbered as the source was, and for a scene-linear
source back in its colourspace through the inverse of the view the proxy was made through.

The frames are written into a folder of the work area under their final names; the hand-off
moves them into place once they are verified.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import av

from uprez.errors import MediaError
from uprez.media.av_errors import AV_ERRORS
from uprez.media.image_sequence import ImageSequence
from uprez.media.sequence_writer import FrameFormat, SequenceWriter

if TYPE_CHECKING:
    from uprez.media.ocio import ViewTransform

__all__ = ["write_frames"]

log = logging.getLogger(__name__)


def write_frames(
    movie: str | os.PathLike[str],
    target: ImageSequence,
    form: FrameFormat,
    colour: ViewTransform | None = None,
) -> list[Path]:
    """Write every frame of ``movie`` as ``target``'s files (its numbers, in order), in
    ``form``; through the inverse of ``colour`` when it is given. Returns the files.

    Raises:
        MediaError: the movie cannot be read, has another frame count, or a frame cannot be
            written.
    """
    target.folder.mkdir(parents=True, exist_ok=True)
    numbers = iter(target.numbers)
    try:
        with av.open(os.fspath(movie)) as inp, SequenceWriter(target, form, workers=2) as out:
            stream = inp.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in inp.decode(stream):
                number = next(numbers, None)
                if number is None:
                    raise MediaError(f"{movie}: more frames than the {target.count} of {target}")
                if colour is not None:
                    from uprez.media.ocio_render import from_display  # OpenColorIO

                    frame = from_display(frame, colour)
                out.write(frame, number)
        written = out.paths
    except AV_ERRORS as exc:
        raise MediaError(f"could not write the frames of {movie}: {exc}") from exc
    if len(written) != target.count:
        raise MediaError(f"{movie}: {len(written)} frames, not the {target.count} of {target}")
    log.info("wrote %d frames of %s as %s", len(written), movie, target.name)
    return written
