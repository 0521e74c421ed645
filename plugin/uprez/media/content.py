"""Is the result the source's picture? Compare them by content, not only by size.

A service can return a file of the right size, frame rate and frame count that is black, stands
still, or shows another clip. :func:`content_problems` compares a result with its source at
``samples`` moments spread over the clip. At each it takes frames k and k+1 of both files (the
same frame numbers: a result has its source's frame count at the same rate), shrinks them to
the same small grey picture in display orientation (so the result's size and a rotation tag do
not matter; see :mod:`uprez.media.thumbs`) and finds, in this order:

* **black**: the result is black (FFmpeg ``blackdetect``'s rule) where the source is not (no
  more than 90% of its pixels dark, so a night scene rendered a little darker is no alarm);
* **frozen**: the result's two frames are the same picture (they differ by less than a tenth of
  what the source's differ by) where the source moves (by a grey level or more on average);
* **another clip**: the structural similarity (SSIM) of the result's frame k with the
  source's is below ``min_similarity``. A faithful upscale scores 0.95 or more (a sharpening
  one too: the shrinking averages its detail away); another picture scores near 0.

A source that is black or still at a moment is not a problem there. Consecutive sampled
moments with the same problem are reported as one run ("black from 1.20 s to 3.40 s").

Cost: a few frames are decoded per moment, never the whole result. The keyframes of both files
are found by demuxing alone (:mod:`uprez.media.keyframes`: an MP4's sample tables, without
reading its packets), and each moment is taken where decoding is cheapest, within a budget of
frames (:mod:`uprez.media.frame_pairs`). Measured on two cores (AMD EPYC), a 60 s 4K H.264
result (the local server's libx264 ultrafast, 1440 frames, a keyframe every 250) against its
1080p H.264 source: 7 moments in 1.2 s, where decoding the whole result takes 8 s. With
keyframes 10 s apart, moments fall on them (and spans between them are left out): a 10-minute
result has keyframes enough for all 12. The worst case tried, the same clip under heavy film
grain (1.9 GB, 256 Mbit/s) with the two files' keyframes apart: 4 moments in 3.0 s, against
28 s for a whole decode.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby

import av
from av.container import InputContainer

from uprez.errors import MediaError
from uprez.media.av_errors import AV_ERRORS
from uprez.media.frame_pairs import PairReader, choose_frames
from uprez.media.keyframes import VideoIndex, index_video
from uprez.media.thumbs import (
    Thumb,
    dark_share,
    difference,
    display_size,
    is_black,
    similarity,
    thumb,
)

__all__ = ["Moment", "compare_content", "content_problems"]

log = logging.getLogger(__name__)

# The source is "not black" when at most this share of its pixels is dark: a night scene that
# the result renders a little darker is no alarm.
_LIT = 0.9
# The source "moves" between two frames when their thumbnails differ by this many grey levels
# on average, and the result then "stands still" when its differ by less than this share of it.
_MOVING = 1.0
_STILL_SHARE = 0.1


@dataclass(frozen=True)
class Moment:
    """What one sampled moment of the result looks like next to the source."""

    frame: int
    """Frame k of the pair k, k+1 (presentation order from 0)."""
    time: float
    """Seconds from the source's first frame to frame k."""
    similarity: float
    """SSIM of the result's frame k with the source's (1 is the same picture)."""
    black: bool
    """The result is black here and the source is not."""
    frozen: bool
    """The result stands still here and the source moves."""

    def problem(self, min_similarity: float) -> str | None:
        """The one thing wrong at this moment (black, then frozen, then another picture)."""
        if self.black:
            return "black"
        if self.frozen:
            return "frozen"
        if self.similarity < min_similarity:
            return "another clip"
        return None


def content_problems(
    source: str | os.PathLike[str],
    result: str | os.PathLike[str],
    *,
    samples: int,
    min_similarity: float,
) -> list[str]:
    """What is wrong with the picture of ``result`` as an upscale of ``source``: one line per
    run of sampled moments with the same problem, naming its times and frames; empty when the
    result shows the source's picture.

    Raises:
        MediaError: a file cannot be read or decoded (its ``path`` says which).
    """
    moments = compare_content(source, result, samples=samples)
    problems = []
    for kind, run in groupby(moments, key=lambda m: m.problem(min_similarity)):
        if kind is not None:
            problems.append(_describe(kind, list(run), min_similarity))
    return problems


def compare_content(
    source: str | os.PathLike[str], result: str | os.PathLike[str], *, samples: int
) -> list[Moment]:
    """Each sampled moment of ``result`` next to ``source``, in time order (at most
    ``samples``; fewer for a clip with fewer frames, or where keyframes are far apart).

    Raises:
        MediaError: a file cannot be read or decoded (its ``path`` says which).
    """
    started = time.monotonic()
    src_index, res_index = index_video(source), index_video(result)
    frames = choose_frames(src_index, res_index, samples)
    with _opened(src_index) as src_file, _opened(res_index) as res_file:
        src, res = PairReader(src_file, src_index), PairReader(res_file, res_index)
        moments = []
        for k in frames:
            pairs = _pair(src, src_index, k), _pair(res, res_index, k)
            try:
                moments.append(_moment(k, src_index.time(k), *pairs, src.pixel_aspect))
            except AV_ERRORS as exc:  # a picture swscale cannot shrink
                raise MediaError(
                    f"frame {k} of {res_index.path} could not be compared with its source: {exc}",
                    path=src_index.path,
                ) from exc
        log.info(
            "compared %s with %s at %d moments in %.2f s (%d + %d frames decoded)",
            res_index.path,
            src_index.path,
            len(moments),
            time.monotonic() - started,
            src.decoded,
            res.decoded,
        )
    return moments


def _pair(
    reader: PairReader, index: VideoIndex, k: int
) -> tuple[av.VideoFrame, av.VideoFrame | None]:
    try:
        return reader.pair(k)
    except AV_ERRORS as exc:
        raise MediaError(
            f"{index.path}: frame {k} could not be decoded: {exc}", path=index.path
        ) from exc


def _moment(
    k: int,
    at: float,
    source: tuple[av.VideoFrame, av.VideoFrame | None],
    result: tuple[av.VideoFrame, av.VideoFrame | None],
    pixel_aspect: Fraction | None,
) -> Moment:
    size = display_size(source[0], pixel_aspect)
    src = [thumb(frame, size) for frame in source if frame is not None]
    res = [thumb(frame, size) for frame in result if frame is not None]
    return Moment(
        frame=k,
        time=at,
        similarity=similarity(src[0], res[0]),
        black=is_black(res[0]) and dark_share(src[0]) <= _LIT,
        frozen=_frozen(src, res),
    )


def _frozen(source: list[Thumb], result: list[Thumb]) -> bool:
    if len(source) < 2 or len(result) < 2:
        return False
    moved = difference(*source)
    return moved >= _MOVING and difference(*result) < _STILL_SHARE * moved


def _describe(kind: str, run: list[Moment], min_similarity: float) -> str:
    first, last = run[0], run[-1]
    if first is last:
        where = f"at {first.time:.2f} s (frame {first.frame})"
    else:
        where = (
            f"from {first.time:.2f} s to {last.time:.2f} s "
            f"(frames {first.frame} to {last.frame}, {len(run)} sampled moments)"
        )
    if kind == "black":
        return f"black {where} where the source is not"
    if kind == "frozen":
        return f"frozen {where}: the picture stands still where the source moves"
    scores = sorted(m.similarity for m in run)
    score = f"{scores[0]:.2f}" if len(scores) == 1 else f"{scores[0]:.2f} to {scores[-1]:.2f}"
    return (
        f"looks like another clip {where}: similarity to the source {score}, "
        f"below {min_similarity:.2f}"
    )


@contextlib.contextmanager
def _opened(index: VideoIndex) -> Iterator[InputContainer]:
    """The indexed video, open; its errors reported as MediaError."""
    try:
        container = av.open(index.path, metadata_errors="replace")
    except AV_ERRORS as exc:
        raise MediaError(f"{index.path} could not be read: {exc}", path=index.path) from exc
    with container:
        yield container
