"""Applying a :class:`~uprez.media.ocio.ViewTransform` to frames: scene-linear → display for
the proxy, and display → scene-linear for a result delivered as a sequence.

Frames are PyAV frames in FFmpeg's planar float formats, as FFmpeg decodes EXR and encodes it:
``gbrpf32le`` / ``gbrapf32le``, and half float ``gbrpf16le`` / ``gbrapf16le`` (a half EXR as
decoded, which ``to_display`` gives OCIO as it is). Their planes are **G, B, R (, A)** in that
order; OCIO is given each plane by name, so red stays red. A frame in another format is
converted first (half float widened exactly, as swscale would clamp it to 0..1), reading
its own colour tags (untagged YUV as BT.709); an 8-bit one (the service's H.264) through 8-bit
RGB scaled by 1/255, since swscale's own 8-bit → float falls short of full scale (255 → 0.9962)
and the inverse view near white would halve the highlight for it. So give ``from_display`` the
decoded frame itself, not one already converted to float. The result is a new frame (the
decoder's is never written), display-referred and clamped to [0, 1] but still float, so the one
quantisation is the encoder's; its alpha plane is a copy of the source's, untouched. NumPy
arrays (packed ``HxWx3`` or ``HxWx4`` float32, R, G, B, A order) are taken too.

Speed. OCIO's exact ACES 2.0 output transform runs at ~1.2 frames/s at 1920x1080 on one core,
far too slow beside decoding and encoding. So a view with a tone-mapping step (a fixed function
or grading curves) on a scene-linear source is *baked* (:mod:`uprez.media.ocio_bake`): a log
shaper and a 65^3 tetrahedral 3D LUT sampled from the exact transform, run by OCIO's CPU
processor (~0.3 s to build, once per transform; the inverse likewise). Views that are only matrices
and curves (un-tone-mapped, video) stay exact: they are as fast, and a LUT would smear their
clip. OCIO releases the GIL, so a frame is cut into row bands run on a thread pool.

Measured at 1920x1080 ``gbrpf32le``, ACES 2.0 SDR, on a shared 2-core machine: 35 frames/s on
one thread, 62-66 frames/s on 2-4 (exact: 1.2 frames/s; swscale's float → yuv420p after it:
260 frames/s). A half-float frame is read by a processor made for half input: OCIO makes the
curves ahead of the LUT a lookup over every half value, so it costs ~21 ms of CPU, not ~35 ms,
and no widened copy (another ~20 ms) is made first; the output is the same to 1e-5. The
inverse at 3840x2160 from yuv420p: 2.5 frames/s on one thread, 3.7 on two.

Accuracy of the bake against the exact transform (ACES 2.0 SDR, in 8-bit codes): greys within
0.11; Rec.709-gamut colours over 15 stops 0.8 at the 99th percentile, 1.8 at the 99.9th, 5 at
most; colours at the edge of ACEScg's gamut (saturated cyan and blue, near the transform's
gamut cusp) 1.1 at the 99th percentile but up to tens of codes at worst. ``exact=True`` uses
the exact processor. A source in a non-linear colourspace (a log-encoded EXR) always does: the
shaper is for linear values.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from uprez.media.ocio import ViewTransform, display_view, require_invertible, require_ocio
from uprez.media.ocio_bake import LUT_SIZE, Baker, is_costly, is_linear

if TYPE_CHECKING:
    import av
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["ColourProcessor", "from_display", "to_display"]

log = logging.getLogger(__name__)

# FFmpeg's planar float RGB, and whether it has alpha: the planes are G, B, R (then A).
_PLANAR = {"gbrpf32le": False, "gbrapf32le": True}
# Planar half float (a half EXR as FFmpeg decodes it) → the float format it is made into.
_HALF = {"gbrpf16le": "gbrpf32le", "gbrapf16le": "gbrapf32le"}
_G, _B, _R, _A = 0, 1, 2, 3

_pool: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_default_threads(), thread_name_prefix="uprez-ocio")
    return _pool


def _default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


class ColourProcessor:
    """The processors of one view transform, built once and applied to many frames (thread
    safe: OCIO's CPU processors are).

    ``exact`` uses OCIO's exact transform instead of the baked LUT; ``threads`` is how many row
    bands a frame is cut into (default: the CPU count, at most 8; 1 runs on the caller's
    thread); ``config`` an already loaded OCIO config for ``transform.config``.
    """

    def __init__(
        self,
        transform: ViewTransform,
        *,
        exact: bool = False,
        threads: int | None = None,
        config: Any = None,
    ) -> None:
        ocio = require_ocio()
        self.transform = transform
        self._ocio = ocio
        self._cfg = config if config is not None else ocio.Config.CreateFromFile(transform.config)
        self._bands = max(1, threads if threads is not None else _default_threads())
        forward = self._cfg.getProcessor(self._exact(inverse=False))
        self._baker: Baker | None = None
        if not exact and is_linear(ocio, self._cfg, transform.source) and is_costly(ocio, forward):
            self._baker = Baker(ocio, self._cfg, transform.clips_above)
        self._inverse: Any = None
        if self._baker is not None:
            processor = self._baker.forward(forward.getDefaultCPUProcessor())
            log.debug("baked %s for %s", self.method, transform)
        else:
            clamp = ocio.RangeTransform(
                minInValue=0.0, maxInValue=1.0, minOutValue=0.0, maxOutValue=1.0
            )
            processor = self._cfg.getProcessor(
                ocio.GroupTransform([self._exact(inverse=False), clamp])
            )
        self._forward = processor.getDefaultCPUProcessor()
        # Half in, float out: OCIO makes the curves ahead of a LUT a lookup over every half
        # value (see the module's notes), so a half frame is neither widened nor slower.
        self._forward_half = processor.getOptimizedCPUProcessor(
            ocio.BIT_DEPTH_F16, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_DEFAULT
        )

    @property
    def baked(self) -> bool:
        """Whether the transform runs as a baked LUT (see the module's notes) or exact."""
        return self._baker is not None

    @property
    def method(self) -> str:
        """How the transform is applied, for the sidecar."""
        return f"baked: log shaper + {LUT_SIZE}^3 tetrahedral LUT" if self._baker else "exact"

    def to_json(self) -> dict[str, object]:
        """The transform's record with how it was applied."""
        return {**self.transform.to_json(), "method": self.method}

    # ---- frames --------------------------------------------------------------------------

    def to_display(
        self, frame: av.VideoFrame, *, into: av.VideoFrame | None = None
    ) -> av.VideoFrame:
        """``frame`` (scene-linear, in the source colourspace) as the display shows it: a new
        ``gbrpf32le`` (``gbrapf32le`` with alpha) frame in [0, 1], alpha copied untouched.
        A half-float frame (``gbrpf16le``, ``gbrapf16le``: a half EXR as decoded) is read as it
        is, with no widened copy made first.

        ``into``: a frame the caller is done with (the last result, once encoded), written
        over and returned instead of a new one when it has the result's size and format. A new
        1080p float frame is 25 MB of fresh pages; a proxy made frame after frame spends ~6 %
        less CPU reusing one.
        """
        if frame.format.name in _HALF:
            return self._frame(self._forward_half, frame, half=True, into=into)
        return self._frame(self._forward, frame, into=into)

    def from_display(self, frame: av.VideoFrame) -> av.VideoFrame:
        """``frame`` (display-referred: the service's result) brought back to the source
        colourspace, as a new ``gbrpf32le`` (``gbrapf32le``) frame.

        Raises:
            ConfigError: the view has no inverse (see :func:`~uprez.media.ocio.require_invertible`,
                which the run calls before spending).
        """
        return self._frame(self._backward(), frame)

    # ---- arrays --------------------------------------------------------------------------

    def to_display_array(self, rgb: FloatArray) -> FloatArray:
        """As :meth:`to_display`, for a packed ``HxWx3`` or ``HxWx4`` float32 array (R, G, B,
        A order); a new array."""
        return self._array(self._forward, rgb)

    def from_display_array(self, rgb: FloatArray) -> FloatArray:
        """As :meth:`from_display`, for a packed array; a new array."""
        return self._array(self._backward(), rgb)

    # ---- building ------------------------------------------------------------------------

    def _exact(self, *, inverse: bool) -> Any:
        t = self.transform
        return display_view(self._ocio, t.source, t.display, t.view, inverse=inverse)

    def _backward(self) -> Any:
        if self._inverse is None:
            require_invertible(self.transform)
            exact = self._cfg.getProcessor(self._exact(inverse=True)).getDefaultCPUProcessor()
            self._inverse = self._baker.inverse(exact) if self._baker else exact
        return self._inverse

    # ---- applying ------------------------------------------------------------------------

    def _frame(
        self,
        cpu: Any,
        frame: av.VideoFrame,
        *,
        half: bool = False,
        into: av.VideoFrame | None = None,
    ) -> av.VideoFrame:
        """``frame`` through ``cpu``: a half-float frame as it is when ``half`` (``cpu`` is
        made for half input), any other first made planar float; written into ``into`` when
        it is of the result's size and format."""
        import av
        import numpy as np

        ocio = self._ocio
        if not half:
            frame = _planar_float(frame)
        fmt = _HALF[frame.format.name] if half else frame.format.name
        depth, size = (ocio.BIT_DEPTH_F16, 2) if half else (ocio.BIT_DEPTH_F32, 4)
        width, height = frame.width, frame.height
        if into is not None and (into.width, into.height, into.format.name) == (width, height, fmt):
            out = into
        else:
            out = av.VideoFrame(width, height, fmt)
        out.pts = frame.pts
        if frame.time_base is not None:
            out.time_base = frame.time_base
        src = [_plane(p, np.float16 if half else np.float32) for p in frame.planes]
        dst = [_plane(p) for p in out.planes]
        if _PLANAR[fmt]:
            np.copyto(
                _rows(out.planes[_A], dst[_A], width), _rows(frame.planes[_A], src[_A], width)
            )

        def band(start: int, rows: int) -> Callable[[], None]:
            def one(planes: list[Any], line: int, depth: Any, size: int) -> Any:
                r, g, b = (_span(planes[i], line, start, rows, width) for i in (_R, _G, _B))
                return ocio.PlanarImageDesc(r, g, b, width, rows, depth, size, line * size)

            source = one(src, frame.planes[0].line_size // size, depth, size)
            target = one(dst, out.planes[0].line_size // 4, ocio.BIT_DEPTH_F32, 4)
            return lambda: cpu.apply(source, target)

        self._run([band(start, rows) for start, rows in _bands(height, self._bands)])
        return out

    def _array(self, cpu: Any, rgb: FloatArray) -> FloatArray:
        import numpy as np

        if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
            raise ValueError(f"expected an HxWx3 or HxWx4 array, got shape {rgb.shape}")
        src = np.ascontiguousarray(rgb, dtype=np.float32)
        out = src.copy()  # alpha, if any, stays as it was
        height, width, channels = src.shape
        ocio = self._ocio

        def band(start: int, rows: int) -> Callable[[], None]:
            part = out[start : start + rows]
            desc = ocio.PackedImageDesc(part, width, rows, channels)
            return lambda: cpu.apply(desc)

        self._run([band(start, rows) for start, rows in _bands(height, self._bands)])
        if channels == 4:
            out[..., 3] = src[..., 3]
        return out

    def _run(self, work: list[Callable[[], None]]) -> None:
        if len(work) == 1:
            work[0]()
            return
        for done in [_threads().submit(job) for job in work]:
            done.result()


@lru_cache(maxsize=8)
def _processor(transform: ViewTransform) -> ColourProcessor:
    return ColourProcessor(transform)


def to_display(
    frame: av.VideoFrame, transform: ViewTransform, *, into: av.VideoFrame | None = None
) -> av.VideoFrame:
    """``frame`` (scene-linear) through ``transform``'s view, written ``into`` a frame done
    with if it fits: see :meth:`ColourProcessor.to_display` (the processor is built once per
    transform)."""
    return _processor(transform).to_display(frame, into=into)


def from_display(frame: av.VideoFrame, transform: ViewTransform) -> av.VideoFrame:
    """``frame`` (display-referred) back to ``transform``'s source colourspace: see
    :meth:`ColourProcessor.from_display`."""
    return _processor(transform).from_display(frame)


def _planar_float(frame: av.VideoFrame) -> av.VideoFrame:
    """``frame`` as ``gbrpf32le`` / ``gbrapf32le``. An 8-bit frame (the service's H.264) goes
    through 8-bit RGB, scaled here by 1/255: swscale's own 8-bit → float conversion is short
    of full scale (255 → 0.9962), and near display white the inverse view is steep enough to
    turn that into half the highlight's value."""
    import av
    import numpy as np

    if frame.format.name in _PLANAR:
        return frame
    if frame.format.name in _HALF:
        # swscale's half → float goes through 16-bit integers and clamps to 0..1.
        from uprez.media.half_float import to_float32

        return to_float32(frame)
    components = frame.format.components
    alpha = any(c.is_alpha for c in components)
    if max(c.bits for c in components) > 8:
        converted = frame.reformat(format="gbrapf32le" if alpha else "gbrpf32le")
    else:
        # The frame's own matrix tag is used; untagged YUV is read as BT.709 (the service
        # returns HD and larger, as the proxy was: BT.709-tagged).
        untagged = not frame.format.is_rgb and frame.colorspace in (0, 2)
        rgb = frame.reformat(
            format="rgba" if alpha else "rgb24", src_colorspace="ITU709" if untagged else None
        )
        packed = rgb.to_ndarray()
        scaled = packed.astype(np.float32) * np.float32(1 / 255)
        converted = av.VideoFrame.from_ndarray(
            scaled, format="gbrapf32le" if alpha else "gbrpf32le"
        )
    converted.pts = frame.pts
    if frame.time_base is not None:
        converted.time_base = frame.time_base
    return converted


def _bands(height: int, count: int) -> Iterator[tuple[int, int]]:
    step = max(1, -(-height // count))
    for start in range(0, height, step):
        yield start, min(step, height - start)


def _plane(plane: Any, dtype: Any = None) -> FloatArray:
    import numpy as np

    return np.frombuffer(plane, dtype=np.float32 if dtype is None else dtype)


def _rows(plane: Any, flat: FloatArray, width: int) -> FloatArray:
    return flat.reshape(plane.height, plane.line_size // flat.itemsize)[:, :width]


def _span(flat: FloatArray, line: int, start: int, rows: int, width: int) -> FloatArray:
    # OCIO's binding wants a buffer of exactly width * rows values and reads it through the
    # strides given: the buffer starts at the band's first pixel and the plane's padding past
    # each row (line ≥ width) is stepped over, never written.
    first = start * line
    return flat[first : first + width * rows]
