"""Enlarging whole frames for ``upscale`` runs: the ``Upsampler`` interface, Lanczos, spandrel networks, tiling.

The engine detects and restores faces on the input frame, enlarges the background with an upsampler
from here, and warps each restored face straight into the enlarged frame.
"""
from __future__ import annotations

from .base import Upsampler
from .build import build_upsampler
from .lanczos import LanczosUpsampler, lanczos_resize, lanczos_upscale
from .settings import MAX_SCALE, SR_MODELS, UPSAMPLER_NAMES, UpscaleSettings

__all__ = ["LanczosUpsampler", "MAX_SCALE", "SR_MODELS", "UPSAMPLER_NAMES", "Upsampler", "UpscaleSettings",
           "build_upsampler", "lanczos_resize", "lanczos_upscale"]
