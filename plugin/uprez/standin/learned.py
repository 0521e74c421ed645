"""The local server's ``learned`` mode: a small CNN (pyanime4k) doubles the picture's detail.

A plain Lanczos resize is the floor of what an upscaling service sells; this mode runs a learned
super-resolution network instead, on the CPU, with no download at run time: pyanime4k's models
(Anime4KCPP's ACNet/ARNet) are compiled into its wheel (``pip install 'uprez[learned]'``).

How a frame is made, and why:

* The frame is first scaled by Lanczos exactly as the ``lanczos`` mode does it; then only its luma
  plane is replaced by the network's. Chroma, colour range and matrix stay the Lanczos path's own,
  so both modes agree on colour; detail lives in luma, and the network sees one channel at a
  time (pyanime4k takes a colour picture in the time it takes its luma alone).
* The network is a x2 model: it runs once or twice (the power of two nearest the wanted scale),
  then a Lanczos resize lands on the exact fitted size.
* The network was trained on pictures read from image files, whose luma spans 0 to 255; video
  luma spans 16 to 235. It gets the plane stretched to 0..1 in floating point, and the result is
  squeezed back: fed video's narrower range as is, it scores about 0.1 dB lower (PSNR on the
  quality benchmark's photographs).
* pyanime4k holds Python's GIL for a whole call (a 1280x720 input holds it for about half a
  second on two cores), which would freeze the in-process server's HTTP threads. Each pass
  therefore runs on horizontal strips of about 0.13 megapixels (some 60 ms each), each with a
  margin wider than the network's receptive field, so the result is identical to one call
  while the GIL is released between strips.
* Both cores: pyanime4k's CPU processor is OpenMP-parallel (about 2 s of CPU per second of wall
  time on two cores); frames go through one at a time, so memory stays bounded. OpenMP's
  threads are told to sleep, not spin, between layers (``OMP_WAIT_POLICY=PASSIVE`` unless set):
  the decoder, x264 and the server's threads share the cores, and a spinning thread steals
  their time. That made whole upscales about 1.5 times faster on a busy two-core machine.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

import av
from av.video.reformatter import ColorRange, VideoReformatter

from uprez.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np  # numpy comes with the learned extra
    from numpy.typing import NDArray

__all__ = ["MODEL", "LearnedScaler", "cnn_passes", "load_backend"]

log = logging.getLogger(__name__)

#: pyanime4k's model: the ResNet variant measured best on photographs at x2 and x4 among the
#: models in the wheel (``python -m benchmarks.quality`` shows it against Lanczos).
MODEL: Final = "arnet-hdn"

_INSTALL_HINT = "pip install 'uprez[learned]'"
# Rows of context above and below each strip: an input row reaches 9 rows either side.
_MARGIN = 12
# Input pixels per call while pyanime4k holds the GIL (about 60 ms on two cores); the margins
# add about a quarter to the work at 1280 columns, less on narrower planes.
_STRIP_PIXELS = 1 << 17
_MAX_PASSES = 2


def load_backend() -> ModuleType:
    """The ``pyanime4k`` module, or a ConfigError saying how to install it.

    Imported here, not at the top of any module, so uprez runs without the ``learned`` extra.
    """
    # Read once, when pyanime4k's OpenMP runtime loads (see the module's docstring).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return importlib.import_module("pyanime4k")
    except ImportError as exc:
        raise ConfigError(
            f"the learned mode needs the pyanime4k package, which is not installed "
            f"({exc}): {_INSTALL_HINT}, or use the lanczos mode"
        ) from exc


def cnn_passes(source: tuple[int, int], target: tuple[int, int]) -> int:
    """How many x2 passes of the network take ``source`` nearest to ``target``: 0, 1 or 2.

    The nearest power of two of the scale, so the Lanczos step after the network stays small;
    at most two passes, since a third at 4K costs seconds per frame for little visible gain.
    """
    scale = max(target[0] / source[0], target[1] / source[1])
    if scale <= 1:
        return 0
    return min(_MAX_PASSES, max(1, round(math.log2(scale))))


class LearnedScaler:
    """Upscales the frames of one video to ``target`` with the network; one per video.

    ``refine(source_frame, lanczos_frame)`` returns the Lanczos-scaled frame with its luma made
    by the network. Not thread-safe: each conversion makes its own scaler.
    """

    def __init__(
        self, source: tuple[int, int], target: tuple[int, int], *, model: str = MODEL
    ) -> None:
        backend = load_backend()
        self._processor: Any = backend.Processor(processor_type="cpu", device=0, model=model)
        if not self._processor.ok():
            raise ConfigError(f"pyanime4k cannot run {model} on the CPU: {self._processor.error()}")
        self.passes = cnn_passes(source, target)
        self._reformatter = VideoReformatter()
        log.info(
            "learned upscale %dx%d -> %dx%d: %s, %d pass(es) of x2 then Lanczos",
            *source,
            *target,
            model,
            self.passes,
        )

    def refine(self, source: av.VideoFrame, scaled: av.VideoFrame) -> av.VideoFrame:
        """Replace the luma of ``scaled`` (``source`` resized by Lanczos) by the network's.

        ``scaled`` must be planar YUV (the encoder's yuv420p); it is changed in place and
        returned. With no upscale to do (``passes == 0``) it is returned as it is.
        """
        if self.passes == 0:
            return scaled
        full_range = int(scaled.color_range) == int(ColorRange.JPEG)
        luma = self._source_luma(source, scaled)
        size = (scaled.width, scaled.height)
        _plane_view(scaled, 0)[...] = self.upscale_luma(luma, size, full_range=full_range)
        return scaled

    def upscale_luma(
        self, luma: NDArray[np.uint8], size: tuple[int, int], *, full_range: bool = False
    ) -> NDArray[np.uint8]:
        """An 8-bit luma plane (rows x columns) enlarged to ``size`` (width, height).

        ``full_range``: the plane spans 0..255 (JPEG range) rather than video's 16..235.
        """
        import numpy as np  # numpy comes with the learned extra

        low, span = (0.0, 255.0) if full_range else (16.0, 219.0)
        plane = (luma.astype(np.float32) - low) / span
        for _ in range(self.passes):
            plane = self._double(plane)
        eight_bit = np.clip(np.rint(plane * span + low), 0, 255).astype(np.uint8)
        return _resize_plane(eight_bit, size)

    def _source_luma(self, source: av.VideoFrame, scaled: av.VideoFrame) -> NDArray[np.uint8]:
        """The source's luma as the Lanczos path computed it, at the source's size.

        ``scaled`` carries the range and colour matrix the Lanczos path chose; converting to the
        same ones keeps the network's luma consistent with the Lanczos chroma beside it.
        """
        same = self._reformatter.reformat(
            source,
            format=scaled.format.name,
            src_color_range=source.color_range,
            dst_color_range=scaled.color_range,
            dst_colorspace=scaled.colorspace,
        )
        return _plane_view(same, 0).copy()

    def _double(self, luma: NDArray[np.float32]) -> NDArray[np.float32]:
        """One x2 pass over a 0..1 plane, strip by strip (see the module's docstring for why)."""
        import numpy as np  # numpy comes with the learned extra

        height, width = luma.shape
        rows = max(16, _STRIP_PIXELS // width)
        out = np.empty((height * 2, width * 2), dtype=np.float32)
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            first, last = max(0, top - _MARGIN), min(height, bottom + _MARGIN)
            doubled = self._processor(np.ascontiguousarray(luma[first:last]), 2.0)
            skip = 2 * (top - first)
            out[2 * top : 2 * bottom] = doubled[skip : skip + 2 * (bottom - top)]
        return out


def _plane_view(frame: av.VideoFrame, index: int) -> NDArray[np.uint8]:
    """A writable rows x columns view of one 8-bit plane (without its row padding)."""
    import numpy as np  # numpy comes with the learned extra

    plane = frame.planes[index]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    return rows[: plane.height, : plane.width]


def _resize_plane(plane: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.uint8]:
    """``plane`` resized to ``size`` (width, height) by swscale's Lanczos, as the lanczos mode."""
    import numpy as np  # numpy comes with the learned extra

    width, height = size
    if plane.shape == (height, width):
        return plane
    frame = av.VideoFrame.from_ndarray(plane, format="gray")
    resized = frame.reformat(width, height, format="gray", interpolation="LANCZOS")
    return np.asarray(resized.to_ndarray(), dtype=np.uint8)
