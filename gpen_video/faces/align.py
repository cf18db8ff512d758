"""Alignment to GPEN's five-point template with a similarity transform.

Coordinates are (x, y) with pixel centres at integers (OpenCV's convention).
An affine here is float32 [2, 3] acting on column vectors (x, y, 1).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# GPEN's template for a 512 crop: left eye, right eye, nose, left and right mouth corners.
_TEMPLATE_512 = np.array(
    [
        [202.0407, 242.8840],
        [309.4302, 242.2900],
        [256.0768, 303.9592],
        [211.9598, 366.8282],
        [300.8911, 366.3363],
    ],
    dtype=np.float64,
)


@lru_cache(maxsize=8)
def _template_cached(size: int) -> np.ndarray:
    template = (_TEMPLATE_512 * (size / 512.0)).astype(np.float32)
    template.setflags(write=False)
    return template


def gpen_template(size: int) -> np.ndarray:
    """GPEN's five landmarks for a ``size`` x ``size`` crop: float32 [5, 2], scaled linearly from 512.

    The returned array is shared and read-only (it is used for every face of every frame).
    """
    if size <= 0:
        raise ValueError(f"template size must be positive, got {size}")
    return _template_cached(int(size))


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` onto ``dst``.

    Args:
        src, dst: float [N, 2] corresponding points, N >= 2.

    Returns:
        float32 [2, 3] matrix M with dst ~= M @ (x, y, 1).
    """
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    if src.shape != dst.shape or src.shape[0] < 2:
        raise ValueError(f"need matching point sets with >= 2 points, got {src.shape} and {dst.shape}")
    # Unknowns (a, b, tx, ty) with M = [[a, -b, tx], [b, a, ty]]; each point gives two equations.
    n = src.shape[0]
    x, y = src[:, 0], src[:, 1]
    rows = np.zeros((2 * n, 4))
    rows[0::2] = np.stack([x, -y, np.ones(n), np.zeros(n)], axis=1)
    rows[1::2] = np.stack([y, x, np.zeros(n), np.ones(n)], axis=1)
    (a, b, tx, ty), *_ = np.linalg.lstsq(rows, dst.reshape(-1), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]], dtype=np.float32)


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a float [2, 3] affine, as float32 [2, 3]."""
    m = np.asarray(m, np.float64)
    lin_inv = np.linalg.inv(m[:, :2])
    return np.concatenate([lin_inv, -lin_inv @ m[:, 2:]], axis=1).astype(np.float32)


def affine_scale(m: np.ndarray) -> float:
    """Uniform scale factor of an affine (crop pixels per frame pixel for a frame -> crop map)."""
    m = np.asarray(m, np.float64)
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def scale_affine(m: np.ndarray, factor: float) -> np.ndarray:
    """The frame -> crop affine for the same frame enlarged ``factor`` times: float32 [2, 3].

    Uses OpenCV's resize grid: enlarged pixel u lies over original position (u + 0.5) / factor - 0.5.
    """
    m = np.asarray(m, np.float64)
    if factor == 1:
        return m.astype(np.float32)
    lin = m[:, :2] / factor
    shift = m[:, 2] + m[:, :2] @ np.full(2, 0.5 / factor - 0.5)
    return np.concatenate([lin, shift[:, None]], axis=1).astype(np.float32)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Warp the face given by ``landmarks`` to GPEN's template.

    Args:
        image: uint8 [H, W, 3] RGB frame.
        landmarks: float [5, 2] in frame pixels (left eye, right eye, nose, left/right mouth).
        size: crop side S.

    Returns:
        (crop uint8 [S, S, 3], affine float32 [2, 3] mapping frame pixels to crop pixels).
        Parts of the crop outside the frame are filled by reflection, which the restorer
        handles better than a black border; they are never pasted back.
    """
    affine = face_affine(landmarks, size)
    return warp_to_crop(image, affine, size), affine


def face_affine(landmarks: np.ndarray, size: int) -> np.ndarray:
    """The frame -> crop similarity that puts ``landmarks`` (float [5, 2], frame pixels) on GPEN's
    template for a ``size`` crop: float32 [2, 3]. Shared by the host and the device frame paths."""
    return estimate_similarity(landmarks, gpen_template(size))


def warp_to_crop(image: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """uint8 [S, S, 3] crop of ``image`` (uint8 [H, W, 3]) through the frame -> crop ``affine``
    (bilinear, reflected borders)."""
    return cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
