"""Scores of an upscaled frame against its reference, on luma (where detail lives).

PSNR is computed here with NumPy; SSIM is scikit-image's ``structural_similarity`` with the
settings of Wang et al. (2004): an 11-tap Gaussian window of sigma 1.5 and population
covariances, over the 8-bit range.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray


def psnr(reference: NDArray[np.uint8], test: NDArray[np.uint8]) -> float:
    """Peak signal-to-noise ratio in dB (infinite for identical planes)."""
    error = np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2)
    return math.inf if error == 0 else float(10 * math.log10(255.0**2 / error))


def ssim(reference: NDArray[np.uint8], test: NDArray[np.uint8]) -> float:
    """Structural similarity, 1.0 for identical planes."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            reference,
            test,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )
