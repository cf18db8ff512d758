"""Plain Lanczos enlargement: the default background upsampler, and the ``compare`` view's original."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def lanczos_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 [H, W, C] resized to [height, width, C] with OpenCV's 8-tap Lanczos (area filter when shrinking).

    Returns ``image`` itself when the size already matches.
    """
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    flags = cv2.INTER_AREA if width < w and height < h else cv2.INTER_LANCZOS4
    return cv2.resize(image, (width, height), interpolation=flags)


def lanczos_upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """uint8 [H, W, 3] -> [scale*H, scale*W, 3] with Lanczos; ``image`` itself at scale 1."""
    h, w = image.shape[:2]
    return lanczos_resize(image, w * scale, h * scale)


class LanczosUpsampler:
    """``Upsampler`` with OpenCV's Lanczos filter: no weights, runs on the CPU, one frame at a time."""

    batch_size = 1

    def __init__(self, scale: int) -> None:
        if scale < 1:
            raise ValueError(f"scale must be at least 1, got {scale}")
        self.scale = int(scale)

    def upscale(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [lanczos_upscale(image, self.scale) for image in images]
