"""The interface the engine calls to enlarge whole frames."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Upsampler(Protocol):
    """Enlarges frames by an integer ``scale``; frames of one call share a size and may run as one batch.

    Pixel grids follow OpenCV's resize convention: output pixel u sits over input position
    (u + 0.5) / scale - 0.5, which is what ``faces.align.scale_affine`` assumes.
    """

    @property
    def scale(self) -> int:
        """Output side / input side."""
        ...

    @property
    def batch_size(self) -> int:
        """Frames per call that it runs best with; the engine gathers up to this many."""
        ...

    def upscale(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """uint8 [H, W, 3] RGB frames of one size in, uint8 [scale*H, scale*W, 3] out, in order."""
        ...
