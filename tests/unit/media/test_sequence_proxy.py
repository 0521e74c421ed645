"""The proxy of an image sequence: every frame, through the view, tagged as what it now is; and a
frame that cannot be read stops it with its name, leaving no thread behind.

Tolerance: the proxy is x264 at CRF 12, 4:2:0, so its pictures are compared with the view's own
output as 8-bit RGB by their mean difference (within 2 codes), not pixel by pixel.
"""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from uprez.config.sections import ColourSection
from uprez.errors import MediaError
from uprez.media.sequence import read_frames
from uprez.media.sequence_proxy import encode_proxy
from uprez.step.proxy import Proxy

from sequences import exr_sequence, png_sequence

FPS = Fraction(24)


def proxy_pictures(path: Path) -> list[np.ndarray]:
    """The proxy's frames as 8-bit RGB, read with its own BT.709 matrix."""
    with av.open(str(path)) as container:
        return [
            f.to_ndarray(format="rgb24", src_colorspace="ITU709") for f in container.decode(video=0)
        ]


def test_a_scene_linear_sequence_is_sent_through_the_view_every_frame_tagged(
    tmp_path: Path,
) -> None:
    from uprez.media.ocio import view_transform
    from uprez.media.ocio_render import to_display

    seq = exr_sequence(tmp_path / "render", count=6, fps=FPS)
    view = view_transform(ColourSection(), env={})
    out = tmp_path / "proxy.mp4"

    written = encode_proxy(seq, 1, 5, out, Proxy(12, "veryfast", FPS, view))

    assert written == 4
    with av.open(str(out)) as container:
        ctx = container.streams.video[0].codec_context
        tags = (ctx.color_primaries, ctx.colorspace, ctx.color_range, ctx.color_trc)
    assert tags == (1, 1, 1, 13)  # BT.709, BT.709, TV range, the sRGB display's transfer
    pictures = proxy_pictures(out)
    assert len(pictures) == 4
    # Each is the view of its frame (highlights above 1 tone-mapped, not clamped first).
    for picture, frame in zip(pictures, read_frames(seq, 1, 5), strict=True):
        shown = to_display(frame, view).reformat(format="rgb24").to_ndarray()
        assert np.abs(picture.astype(int) - shown.astype(int)).mean() < 2


def test_a_display_referred_sequence_is_sent_as_it_is(tmp_path: Path) -> None:
    seq = png_sequence(tmp_path / "render", count=3, fps=FPS)
    out = tmp_path / "proxy.mp4"

    assert encode_proxy(seq, 0, 3, out, Proxy(12, "veryfast", FPS)) == 3

    for picture, frame in zip(proxy_pictures(out), read_frames(seq), strict=True):
        source = frame.reformat(format="rgb24").to_ndarray()
        assert np.abs(picture.astype(int) - source.astype(int)).mean() < 2


def test_a_frame_that_cannot_be_read_stops_the_proxy_naming_it(tmp_path: Path) -> None:
    seq = exr_sequence(tmp_path / "render", count=8, fps=FPS)
    seq.path(1005).write_bytes(b"not an exr")
    before = set(threading.enumerate())

    with pytest.raises(MediaError, match=r"sh010\.1005\.exr"):
        encode_proxy(seq, 0, 8, tmp_path / "proxy.mp4", Proxy(12, "veryfast", FPS))

    assert set(threading.enumerate()) - before == set()
