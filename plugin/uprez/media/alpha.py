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
        self._size, self._pix_fmt = size, pix_fmt
        self._graph: _Graph | None = None
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
        if self._graph is None:  # built on the frames as they really decode (a 4444 is 12-bit)
            self._graph = _Graph(picture, alpha, self._pix_fmt)
        return self._graph.merge(picture, alpha)


class _Graph:
    """``[main] format=pix_fmt; [source] alphaextract, scale (Lanczos), format=gray10le;
    alphamerge, format=pix_fmt``: the filter graph that gives ``main`` the source's alpha."""

    def __init__(self, main: av.VideoFrame, source: av.VideoFrame, pix_fmt: str) -> None:
        tick = Fraction(1, 1000)
        graph = av.filter.Graph()
        self._main = graph.add_buffer(
            width=main.width, height=main.height, format=main.format, time_base=tick
        )
        self._alpha = graph.add_buffer(
            width=source.width, height=source.height, format=source.format, time_base=tick
        )
        with_alpha = graph.add("format", pix_fmt)
        extract = graph.add("alphaextract")
        scale = graph.add("scale", f"{main.width}:{main.height}:flags=lanczos")
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
        self.graph = graph

    def merge(self, main: av.VideoFrame, source: av.VideoFrame) -> av.VideoFrame:
        self._main.push(main)
        self._alpha.push(source)
        merged = self._sink.pull()
        assert isinstance(merged, av.VideoFrame)
        return merged
