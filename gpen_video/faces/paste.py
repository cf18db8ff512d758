"""Soft paste-back of aligned face crops into a frame, working only inside each face's region."""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from .align import affine_scale, invert_affine
from .detail import lost_detail

# Mask geometry as fractions of the crop side: a hard border that is never pasted (restorers
# produce the worst pixels at the crop edge), then a smooth ramp up to full weight.
_MASK_INSET = 0.03
_MASK_FEATHER = 0.12
# Faces smaller than this (frame pixels) get a light anti-alias blur before they are shrunk back.
SMALL_FACE_PX = 100.0


@lru_cache(maxsize=8)
def _soft_mask_cached(size: int) -> np.ndarray:
    i = np.arange(size, dtype=np.float32)
    edge = np.minimum(i, size - 1 - i)  # distance to the nearest border, in pixels
    t = np.clip((edge - _MASK_INSET * size) / (_MASK_FEATHER * size), 0.0, 1.0)
    ramp = t * t * (3.0 - 2.0 * t)  # smoothstep: no visible kink where the feather starts or ends
    mask = np.outer(ramp, ramp).astype(np.float32)
    mask.setflags(write=False)
    return mask


def soft_mask(size: int) -> np.ndarray:
    """Feathered square mask in crop space: float32 [S, S] in [0, 1], 0 on the border, 1 in the middle.

    The returned array is shared and read-only.
    """
    if size <= 0:
        raise ValueError(f"mask size must be positive, got {size}")
    return _soft_mask_cached(int(size))


def soften_small_face(crop: np.ndarray, face_size_px: float) -> np.ndarray:
    """Light blur of a restored crop whose face is small in the frame.

    A crop that will be shrunk a lot is first low-passed so that the restorer's fine texture does not
    alias into sparkle when warped back (GPEN's own application blurs small faces for the same reason).

    Args:
        crop: uint8 [S, S, 3] restored crop.
        face_size_px: the face's size in the frame (e.g. the detection box's longer side), in pixels.

    Returns:
        ``crop`` itself for faces of ``SMALL_FACE_PX`` or more, or when the blur would be too light
        to matter (sigma < 0.3 crop pixels); else a blurred uint8 copy.
    """
    if face_size_px >= SMALL_FACE_PX:
        return crop
    # Roughly half a frame pixel expressed in crop pixels, growing as the face shrinks; a face box
    # covers about half the crop side.
    shrink = (crop.shape[0] * 0.5) / max(face_size_px, 1.0)
    sigma = 0.35 * shrink * (1.0 - 0.5 * face_size_px / SMALL_FACE_PX)
    if sigma < 0.3:
        return crop
    return cv2.GaussianBlur(crop, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)


@lru_cache(maxsize=8)
def _soft_mask_support(size: int) -> tuple[int, int, int, int] | None:
    return mask_support(soft_mask(size) > 0)


def mask_support(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1), exclusive end, of a mask's non-zero pixels, or None if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def face_roi(affine: np.ndarray, support: tuple[int, int, int, int], frame_hw: tuple[int, int]):
    """Frame region (x0, y0, x1, y1), exclusive end and clipped, covered by a crop-space rectangle.

    Returns None when the region falls outside the frame.
    """
    inv = invert_affine(affine)
    x0, y0, x1, y1 = support
    corners = np.array([[x0 - 1, y0 - 1, 1], [x1, y0 - 1, 1], [x0 - 1, y1, 1], [x1, y1, 1]], np.float64)
    pts = corners @ inv.T
    h, w = frame_hw
    fx0 = max(int(np.floor(pts[:, 0].min())), 0)
    fy0 = max(int(np.floor(pts[:, 1].min())), 0)
    fx1 = min(int(np.ceil(pts[:, 0].max())) + 1, w)
    fy1 = min(int(np.ceil(pts[:, 1].max())) + 1, h)
    if fx0 >= fx1 or fy0 >= fy1:
        return None
    return fx0, fy0, fx1, fy1


def _warp_to_roi(crop: np.ndarray, mask: np.ndarray, affine: np.ndarray,
                 roi: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The crop (uint8) and its mask (float32) warped back over the frame's ``roi`` (x0, y0, x1, y1), and the
    frame -> crop affine in ROI pixel coordinates (float64 [2, 3]) that did it."""
    x0, y0, x1, y1 = roi
    a = np.asarray(affine, np.float64)
    a_roi = np.concatenate([a[:, :2], a[:, :2] @ np.array([[x0], [y0]]) + a[:, 2:]], axis=1)  # origin at (x0, y0)
    flags, dsize = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, (x1 - x0, y1 - y0)
    face = cv2.warpAffine(crop, a_roi, dsize, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    weight = cv2.warpAffine(np.asarray(mask, np.float32), a_roi, dsize, flags=flags,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return face, weight, a_roi


def _checked_alphas(count: int, alphas: Sequence[float] | None, masks: Sequence[object] | None,
                    detail: Sequence[float] | None) -> list[float]:
    """``paste_faces``'s alphas as floats (1 each when None), after checking every per-face list has ``count``."""
    alphas = [1.0] * count if alphas is None else [float(a) for a in alphas]
    for name, values in (("alphas", alphas), ("masks", masks), ("detail strengths", detail)):
        if values is not None and len(values) != count:
            raise ValueError(f"got {len(values)} {name} for {count} faces")
    if not all(0.0 <= a <= 1.0 for a in alphas):
        raise ValueError(f"alphas must be in [0, 1], got {alphas}")
    return alphas


def paste_faces(
    frame: np.ndarray,
    faces: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    alphas: Sequence[float] | None = None,
    masks: Sequence[np.ndarray | None] | None = None,
    detail: Sequence[float] | None = None, weight_out: np.ndarray | None = None,
) -> np.ndarray:
    """Blend restored crops back into a copy of ``frame``.

    Each crop and its mask are warped back only over the face's bounding region (never the whole
    frame). Overlapping faces are composited one over the other, smaller (farther) faces first, so the
    nearer face ends on top and every pixel stays a convex mix of the inputs.

    Args:
        frame: uint8 [H, W, 3] RGB.
        faces: (crop uint8 [S, S, 3], affine float32 [2, 3] frame -> crop) per face.
        alphas: per-face weight in [0, 1]: 1 = restored face, 0 = original pixels (the face is
            skipped); no list = 1 for every face.
        masks: optional per-face float [S, S] masks in [0, 1] (e.g. face parsing); None entries, or
            no list, use ``soft_mask(S)``.
        detail: optional per-face strength in [0, 1] of ``frame``'s own fine detail that the crop could
            not hold, added back to the pasted face (``faces.detail``); None or 0 adds none.
        weight_out: optional float32 [H, W] zeros that receive the combined paste weight (``accumulate_weight``).

    Returns:
        New uint8 [H, W, 3] frame.
    """
    alphas = _checked_alphas(len(faces), alphas, masks, detail)
    out = frame.copy()
    h, w = frame.shape[:2]
    order = sorted(range(len(faces)), key=lambda k: affine_scale(faces[k][1]), reverse=True)
    for k in order:
        crop, affine = faces[k]
        alpha = alphas[k]
        if alpha == 0.0:
            continue
        size = crop.shape[0]
        if masks is not None and masks[k] is not None:
            mask, support = masks[k], mask_support(masks[k] > 0)
        else:
            mask, support = soft_mask(size), _soft_mask_support(size)
        if support is None:
            continue
        roi = face_roi(affine, support, (h, w))
        if roi is None:
            continue
        x0, y0, x1, y1 = roi
        face, weight, a_roi = _warp_to_roi(crop, mask, affine, roi)
        if detail is not None and detail[k] > 0.0:
            fine = lost_detail(frame, affine, a_roi, roi, size)
            face = cv2.scaleAdd(fine, float(detail[k]), face.astype(np.float32))
            face = np.clip(np.rint(face), 0, 255).astype(np.uint8)
        if alpha != 1.0:
            weight *= alpha
        # face * w + region * (1 - w), rounded: cv2's fused uint8 blend is ~10x faster than float numpy here.
        region = np.ascontiguousarray(out[y0:y1, x0:x1])
        out[y0:y1, x0:x1] = cv2.blendLinear(face, region, weight, 1.0 - weight)
        accumulate_weight(weight_out, roi, weight)
    return out


def accumulate_weight(combined: np.ndarray | None, roi: tuple[int, int, int, int], weight: np.ndarray) -> None:
    """Fold one face's paste weight over ``roi`` (x0, y0, x1, y1; float [h, w] in [0, 1], torch tensors alike)
    into the frame's ``combined`` weight (float [H, W], in place; None: nothing to do). The faces are composited
    one over the other, so a pixel keeps (1 - combined)(1 - weight) of its original value: 1 - that is the new
    combined weight, 0 exactly where no face changed the pixel."""
    if combined is None:
        return
    x0, y0, x1, y1 = roi
    region = combined[y0:y1, x0:x1]
    region += weight * (1.0 - region)
