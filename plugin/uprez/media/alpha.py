"""The master's alpha, upscaled here and merged into the service's picture.

The service returns no alpha. For a master with alpha (ProRes 4444), the source's alpha plane
is scaled to the result's size with Lanczos and merged into each result frame by an FFmpeg
filter graph (``alphaextract``, ``scale``, ``alphamerge``), at the output's pixel format, so
the alpha keeps its 10 bits and the colour planes their 4:4:4.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from types import TracebackType

import av
import av.filter

from uprez.media.keyframes import skip_other_streams
from uprez.media.probe import is_cover_art

__all__ = ["AlphaMerge"]


class AlphaMerge:
    """Merges the alpha of ``source``'s frames, in order, into result frames of ``size``.
    It reads the source through a container of its own (closed on leaving the ``with``)."""

    def __init__(self, source: str | os.PathLike[str], size: tuple[int, int], pix_fmt: str) -> None:
        self._container = av.open(os.fspath(source), metadata_errors="replace")
        stream = next(s for s in self._container.streams.video if not is_cover_art(s))
        stream.thread_type = "AUTO"
        skip_other_streams(self._container, stream)
        self._frames: Iterator[av.VideoFrame] = self._container.decode(stream)
        width, height = size
        ctx = stream.codec_context
        tick = Fraction(1, 1000)
        graph = av.filter.Graph()
        self._main = graph.add_buffer(
            width=width, height=height, format=av.VideoFormat("yuv420p"), time_base=tick
        )
        self._alpha = graph.add_buffer(
            width=ctx.width,
            height=ctx.height,
            format=av.VideoFormat(ctx.pix_fmt or "yuva444p10le"),
            time_base=tick,
        )
        with_alpha = graph.add("format", pix_fmt)
        extract = graph.add("alphaextract")
        scale = graph.add("scale", f"{width}:{height}:flags=lanczos")
        grey = graph.add("format", "gray10le")
        merge = graph.add("alphamerge")
        out = graph.add("format", pix_fmt)
        self._sink = graph.add("buffersink")
        self._main.link_to(with_alpha)
        with_alpha.link_to(merge, 0, 0)
        self._alpha.link_to(extract)
        extract.link_to(scale)
        scale.link_to(grey)
        grey.link_to(merge, 0, 1)
        merge.link_to(out)
        out.link_to(self._sink)
        graph.configure()
        self._count = 0

    def __enter__(self) -> AlphaMerge:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._container.close()

    def merge(self, picture: av.VideoFrame) -> av.VideoFrame:
        """``picture`` (the next result frame) with the next source frame's alpha."""
        alpha = next(self._frames, None)
        if alpha is None:
            raise ValueError("the result has more frames than the source has alpha for")
        stamp = self._count
        self._count += 1
        if picture.format.name != "yuv420p":
            picture = picture.reformat(format="yuv420p")
        picture.pts, alpha.pts = stamp, stamp
        self._main.push(picture)
        self._alpha.push(alpha)
        merged = self._sink.pull()
        assert isinstance(merged, av.VideoFrame)
        return merged
