"""Frames converted to an encoder's pixel format the way the FFmpeg command line converts them.

``ffmpeg ... -pix_fmt yuv422p10le`` converts in a filter graph: swscale with its default
(bicubic) filter, writing into frames from a pool that fill up again as the encoder lets them
go. :class:`Converter` does the same, so an encoder given its frames writes the very bytes the
command line would, and memory stays level. (PyAV's ``VideoFrame.reformat`` allocates every
frame anew, 33 MB for a 4K frame in 10-bit 4:2:2, and the C allocator keeps much of what is
freed by other threads: up to a fifth more at the peak, by a margin that depends on timing.)
"""

from __future__ import annotations

from fractions import Fraction

import av

__all__ = ["Converter"]

# What a graph is built for: size, pixel format, colour matrix and range (as FFmpeg numbers).
_Key = tuple[int, int, str, int, int]


class Converter:
    """Calls with a frame return it in ``pix_fmt`` (the frame itself when it already is)."""

    def __init__(self, pix_fmt: str) -> None:
        self.pix_fmt = pix_fmt
        self._key: _Key | None = None
        self._source: av.filter.context.FilterContext | None = None
        self._sink: av.filter.context.FilterContext | None = None

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        if frame.format.name == self.pix_fmt:
            return frame
        key = (
            frame.width,
            frame.height,
            frame.format.name,
            int(frame.colorspace),
            int(frame.color_range),
        )
        if key != self._key:  # the first frame, or one unlike those before
            self._build(key)
        assert self._source is not None and self._sink is not None
        self._source.push(frame)
        converted = self._sink.pull()
        assert isinstance(converted, av.VideoFrame)
        return converted

    def _build(self, key: _Key) -> None:
        width, height, pix_fmt, matrix, value_range = key
        graph = av.filter.Graph()
        # The frames' own colour matrix and range, so the scaler keeps them (as the command
        # line's buffer source is told them).
        source = graph.add(
            "buffer",
            f"video_size={width}x{height}:pix_fmt={pix_fmt}:time_base={Fraction(1, 1000)}"
            f":colorspace={matrix}:range={value_range}",
        )
        scale = graph.add("scale", "flags=bicubic")
        convert = graph.add("format", self.pix_fmt)
        sink = graph.add("buffersink")
        source.link_to(scale)
        scale.link_to(convert)
        convert.link_to(sink)
        graph.configure()
        self._graph, self._source, self._sink, self._key = graph, source, sink, key
