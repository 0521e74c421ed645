"""uprez: an upscale export step for render and publish pipelines."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
