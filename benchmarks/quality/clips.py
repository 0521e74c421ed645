"""Reference clips: short pans and zooms over photographs that ship inside scikit-image.

The camera only ever moves by whole pixels and zooms *out* (a window at least the frame's size,
shrunk with an area filter), so every reference frame is as sharp as the photograph itself: no
interpolated reference flatters an interpolating upscaler.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace
from numpy.typing import NDArray

#: Scene photographs (the gate's clips): a portrait, food, a cat's fur, a street, a rocket.
PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket")
#: Reported, not gated: close-ups of texture, and drawn or synthetic pictures (a logo, and
#: ``binary_blobs``, generated). A network trained on drawn images is weakest on the first and
#: strongest on the second; ``--clips`` takes any picture in ``skimage.data`` that needs no
#: download.
TEXTURES = ("brick", "gravel", "grass")
GRAPHICS = ("logo", "binary_blobs")

#: The reference frame: 16:9, divisible by 4 so that x2 and x4 shrink to whole pixels, and small
#: enough to fit inside every photograph above without enlarging it.
FRAME = (384, 216)


@dataclass(frozen=True)
class Clip:
    """A reference clip: its name, its group (photo or texture) and its yuv420p frames."""

    name: str
    group: str
    frames: list[av.VideoFrame]


def photograph(name: str) -> NDArray[np.uint8]:
    """One of scikit-image's bundled pictures as 8-bit RGB (grey ones repeated to three planes)."""
    from skimage import data

    # Generated pictures take a seed, so that every run scores the same clip.
    options = {"rng": 8} if name == "binary_blobs" else {}
    image = np.asarray(getattr(data, name)(**options))
    if image.dtype != np.uint8:
        image = (
            (image * 255).round().astype(np.uint8) if image.max() <= 1 else image.astype(np.uint8)
        )
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def make_clip(name: str, frames: int, group: str = "photo") -> Clip:
    """``frames`` frames panning across the photograph while zooming out from 1:1 to the widest
    16:9 view it holds."""
    image = photograph(name)
    height, width = image.shape[:2]
    frame_w, frame_h = FRAME
    # The widest 16:9 window inside the picture; the zoom goes from FRAME to it.
    wide_w = min(width, height * frame_w // frame_h)
    wide_h = wide_w * frame_h // frame_w
    if wide_w < frame_w or wide_h < frame_h:
        raise ValueError(f"{name} ({width}x{height}) is smaller than a {frame_w}x{frame_h} frame")
    out = []
    for index in range(frames):
        t = index / max(frames - 1, 1)
        win_w = round(frame_w + (wide_w - frame_w) * t)
        win_h = round(frame_h + (wide_h - frame_h) * t)
        left = round((width - win_w) * (1 - t) * 0.8)  # drift right to left as it zooms out
        top = round((height - win_h) * 0.5)
        crop = np.ascontiguousarray(image[top : top + win_h, left : left + win_w])
        rgb = av.VideoFrame.from_ndarray(crop, format="rgb24")
        out.append(
            rgb.reformat(
                frame_w,
                frame_h,
                format="yuv420p",
                interpolation="AREA",
                dst_color_range=ColorRange.MPEG,
                dst_colorspace=Colorspace.ITU709,
            )
        )
    return Clip(name, group, out)


def luma(frame: av.VideoFrame) -> NDArray[np.uint8]:
    """The frame's Y plane, rows x columns."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    return np.ascontiguousarray(rows[: plane.height, : plane.width])


def to_rgb(frame: av.VideoFrame) -> NDArray[np.uint8]:
    """The frame as 8-bit RGB (for the comparison picture)."""
    rgb: NDArray[np.uint8] = frame.to_ndarray(
        format="rgb24", src_colorspace=Colorspace.ITU709, src_color_range=ColorRange.MPEG
    )
    return rgb
