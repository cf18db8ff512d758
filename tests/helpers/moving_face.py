"""A synthetic moving face for the warping-error meter: a textured frame that slides, with a face pasted on it."""
from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from gpen_video.review.stability import WarpErrorMeter
from gpen_video.types import AlignedFace, Detection, Frame, FrameResult, PastedFace, TrackedFace

SIDE = 96  # crop side; the face is pasted at the crop's own scale, shifted with the frame


def textured(shift: int) -> np.ndarray:
    """uint8 [160, 200, 3]: smooth texture moved ``shift`` px to the right (real motion the flow follows)."""
    y, x = np.mgrid[0:160, 0:200].astype(np.float32)
    x -= shift
    shade = 128 + 50 * np.sin(x / 7.0) * np.cos(y / 9.0) + 30 * np.sin((x + y) / 13.0)
    return np.clip(np.stack([shade, shade * 0.9, 255 - shade], axis=2), 0, 255).astype(np.uint8)


def observe(meter: WarpErrorMeter, index: int, shift: int, added: float, *, faces: bool = True,
            scene_cut: bool = False, scale: int = 1) -> None:
    """Frame ``index``: the texture moved ``shift`` px, the output that plus ``added`` levels in the face."""
    image = textured(shift)
    affine = np.float32([[1, 0, -(40 + shift)], [0, 1, -30]])  # the face box moves with the texture
    output = image.astype(np.float32)
    output[30:30 + SIDE, 40 + shift:40 + shift + SIDE] += added
    output = np.clip(output, 0, 255).astype(np.uint8)
    if scale > 1:
        output = cv2.resize(output, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    landmarks = np.zeros((5, 2), np.float32)
    box = np.float32([40 + shift, 30, 40 + shift + SIDE, 30 + SIDE])
    pasted = []
    if faces:
        tracked = TrackedFace(1, Detection(box, 0.9, landmarks), landmarks)
        aligned = AlignedFace(index, 1, np.zeros((SIDE, SIDE, 3), np.uint8), affine, box)
        pasted = [PastedFace(tracked, aligned, aligned.crop, aligned.crop)]
    frame = Frame(index, index, Fraction(1, 25), image)
    meter.observe(FrameResult(frame, output, [p.aligned for p in pasted], scene_cut), pasted)
