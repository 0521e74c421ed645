"""Baking an OCIO view transform into a shaper and a 3D LUT that OCIO's CPU processor runs
at memory speed (see :mod:`uprez.media.ocio_render` for when, how fast and how accurate).

Forward: scene-linear → a log shaper with a linear toe (ACEScct's curve, from -2^-7 up to 4x
the scene value where the view reaches white, clamped) → a 65^3 tetrahedral LUT of display
values sampled from the exact transform. Inverse: display → a 1D pre-shaper taken from the grey
axis → a 65^3 LUT of shaped scene values → the shaper undone.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

__all__ = ["LUT_SIZE", "Baker", "is_costly", "is_linear"]

#: The 3D LUT's points per side.
LUT_SIZE = 65
# The inverse's 1D pre-shaper's points.
_PRE_SHAPER_SIZE = 4096
# The shaper: ACEScct's curve (log2 above 2^-7, a straight toe below, so small negatives survive).
_CCT_BREAK, _CCT_SLOPE, _CCT_OFFSET = 2.0**-7, 1 / 17.52, 9.72 / 17.52
_LINEAR_LOW = -(2.0**-7)
_HALF_MAX = 65504.0
# Operators OCIO runs at memory speed: a view made of these alone stays exact.
_CHEAP = frozenset(
    {
        "MatrixTransform",
        "RangeTransform",
        "ExponentTransform",
        "ExponentWithLinearTransform",
        "LogTransform",
        "LogAffineTransform",
        "LogCameraTransform",
        "CDLTransform",
        "ExposureContrastTransform",
        "Lut1DTransform",
        "Lut3DTransform",
    }
)


def is_costly(ocio: ModuleType, processor: Any) -> bool:
    """Whether ``processor`` does more than OCIO runs at memory speed: a tone-mapping fixed
    function (ACES output transforms) or grading curves. Matrices, curves and 1D/3D LUTs stay
    exact, and a view that clips (un-tone-mapped) must: a 3D LUT smears the clip's edges."""
    ops = processor.getOptimizedProcessor(ocio.OPTIMIZATION_DEFAULT).createGroupTransform()
    return any(type(op).__name__ not in _CHEAP for op in ops)


def is_linear(ocio: ModuleType, cfg: Any, name: str) -> bool:
    """Whether colourspace ``name`` holds scene-linear values (the shaper is made for them)."""
    try:
        return bool(cfg.isColorSpaceLinear(name, ocio.REFERENCE_SPACE_SCENE))
    except Exception:  # an OCIO before 2.2: the colourspace's own encoding says it
        space = cfg.getColorSpace(name)
        return bool(space is not None and space.getEncoding() == "scene-linear")


class Baker:
    """Bakes one view's exact CPU processors; ``clips_above`` is where the view reaches
    display white (:attr:`uprez.media.ocio.ViewTransform.clips_above`)."""

    def __init__(self, ocio: ModuleType, cfg: Any, clips_above: float | None) -> None:
        self._ocio, self._cfg = ocio, cfg
        # Above where the view reaches white nothing changes on screen: 4x that leaves room
        # for a saturated colour whose brightest channel is beyond it.
        white = clips_above
        self._high = _HALF_MAX if white is None else min(max(4.0 * white, 16.0), _HALF_MAX)

    def forward(self, exact: Any) -> Any:
        """Scene-linear → display (clamped to [0, 1]), baked from ``exact``: an OCIO
        ``Processor``, from which CPU processors for each input bit depth are made."""
        import numpy as np

        shaper = self._shaper()
        points = _grid()
        self._cpu(shaper, inverse=True).applyRGB(points)
        exact.applyRGB(points)
        np.clip(np.nan_to_num(points, nan=0.0), 0.0, 1.0, out=points)
        transform = self._ocio.GroupTransform([shaper, self._lut(points)])
        return self._cfg.getProcessor(transform, self._ocio.TRANSFORM_DIR_FORWARD)

    def inverse(self, exact: Any) -> Any:
        """Display → scene-linear, baked from ``exact`` (the exact inverse)."""
        import numpy as np

        # Display → scene is steep at both ends (display white is scene ~127 in ACES 2.0 SDR,
        # and the toe is a power curve), so the LUT is not indexed by display values directly
        # but through a 1D pre-shaper taken from the grey axis: display v → the shaped scene
        # grey it inverts to. Along greys the 3D LUT is then nearly straight, for colours smooth.
        to_shaped = self._cpu(self._shaper())

        def scene_shaped(points: FloatArray) -> FloatArray:
            exact.applyRGB(points)
            out = np.nan_to_num(points, nan=0.0, posinf=self._high, neginf=_LINEAR_LOW)
            out = np.ascontiguousarray(np.clip(out, _LINEAR_LOW, self._high), dtype=np.float32)
            to_shaped.applyRGB(out)
            return out

        display = np.linspace(0.0, 1.0, _PRE_SHAPER_SIZE, dtype=np.float32)
        greys = scene_shaped(np.repeat(display[:, None], 3, axis=1)).mean(axis=1)
        # Strictly increasing (a flat stretch, where a view clips, would not invert).
        axis = np.maximum.accumulate(greys) + 1e-3 * display
        axis = ((axis - axis[0]) / (axis[-1] - axis[0])).astype(np.float32)
        pre = self._ocio.Lut1DTransform()
        pre.setLength(_PRE_SHAPER_SIZE)
        pre.setData(np.ascontiguousarray(np.repeat(axis[:, None], 3, axis=1)).ravel())
        points = np.interp(_grid(), axis, display).astype(np.float32)  # the pre-shaper undone
        values = scene_shaped(points)
        unshape = self._shaper()
        unshape.setDirection(self._ocio.TRANSFORM_DIR_INVERSE)
        return self._cpu(self._ocio.GroupTransform([pre, self._lut(values), unshape]))

    def _cpu(self, transform: Any, *, inverse: bool = False) -> Any:
        ocio = self._ocio
        direction = ocio.TRANSFORM_DIR_INVERSE if inverse else ocio.TRANSFORM_DIR_FORWARD
        return self._cfg.getProcessor(transform, direction).getDefaultCPUProcessor()

    def _shaper(self) -> Any:
        """Scene-linear [-2^-7, high] → [0, 1] by ACEScct's curve: the LUT's input axis."""
        ocio = self._ocio
        curve = ocio.LogCameraTransform(
            linSideBreak=[_CCT_BREAK] * 3,
            base=2.0,
            logSideSlope=[_CCT_SLOPE] * 3,
            logSideOffset=[_CCT_OFFSET] * 3,
        )
        to_unit = ocio.RangeTransform(
            minInValue=_cct(_LINEAR_LOW),
            maxInValue=_cct(self._high),
            minOutValue=0.0,
            maxOutValue=1.0,
        )
        return ocio.GroupTransform([curve, to_unit])

    def _lut(self, values: FloatArray) -> Any:
        lut = self._ocio.Lut3DTransform()
        lut.setGridSize(LUT_SIZE)
        lut.setData(values.ravel())
        lut.setInterpolation(self._ocio.INTERP_TETRAHEDRAL)
        return lut


def _grid() -> FloatArray:
    import numpy as np

    axis = np.linspace(0.0, 1.0, LUT_SIZE, dtype=np.float32)
    # OCIO's Lut3DTransform data: blue changes fastest, then green, then red.
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.ascontiguousarray(np.stack([r, g, b], axis=-1).reshape(-1, 3))


def _cct(x: float) -> float:
    """ACEScct's encoding of scene-linear ``x`` (the shaper's curve, evaluated here)."""
    if x <= _CCT_BREAK:
        slope = _CCT_SLOPE / (_CCT_BREAK * math.log(2.0))
        return slope * (x - _CCT_BREAK) + _CCT_SLOPE * math.log2(_CCT_BREAK) + _CCT_OFFSET
    return _CCT_SLOPE * math.log2(x) + _CCT_OFFSET
