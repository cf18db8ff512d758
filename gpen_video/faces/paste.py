"""Soft paste-back of aligned face crops into a frame, working only inside each face's region.

The work is split in two. ``plan_paste`` (numpy only, on the host) checks the inputs and decides, once
per frame, everything that does not touch pixels: the order of the faces, each face's frame region and
its region -> crop affine, the masks, the alphas and the detail bands. An executor carries the plan
out: ``paste_planned`` here with OpenCV, ``gpu.warp.paste_planned`` with torch on any device.

Each face is pasted as ``out = region + w * (face - region)`` with ``w`` its mask warped back, times
its alpha, and

    face = frame + H(restored - source) + (1 - d) * (H(source) - frame)

where ``H`` warps a crop back into the frame, ``source`` is the crop alignment cut from ``frame`` and
``d`` the face's detail band in [0, 1]. At ``d = 0`` that is ``H(restored)``: the crop itself. At
``d = 1`` only the restorer's change is pasted, so a face larger than the crop keeps every frame pixel
the restorer did not change (a pass-through restorer changes nothing, at any size) while the
restorer's correction lands in full.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .align import affine_scale, invert_affine, warp_to_crop

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


def small_face_blur(crop_side: int, face_size_px: float) -> float | None:
    """The blur sigma, in crop pixels, for a restored crop of side ``crop_side`` whose face is
    ``face_size_px`` in the frame (e.g. the detection box's longer side), or None for no blur.

    A crop that will be shrunk a lot is first low-passed so that the restorer's fine texture does not
    alias into sparkle when warped back (GPEN's own application blurs small faces for the same reason).
    None for faces of ``SMALL_FACE_PX`` or more, or when the blur would be too light to matter
    (sigma < 0.3 crop pixels).
    """
    if face_size_px >= SMALL_FACE_PX:
        return None
    # Roughly half a frame pixel expressed in crop pixels, growing as the face shrinks; a face box
    # covers about half the crop side.
    shrink = (crop_side * 0.5) / max(face_size_px, 1.0)
    sigma = 0.35 * shrink * (1.0 - 0.5 * face_size_px / SMALL_FACE_PX)
    return None if sigma < 0.3 else sigma


def soften_small_face(crop: np.ndarray, face_size_px: float) -> np.ndarray:
    """Light blur (``small_face_blur``) of a restored uint8 [S, S, 3] crop whose face is small in the frame.

    Returns:
        ``crop`` itself when no blur is due, else a blurred uint8 copy (reflected borders).
    """
    sigma = small_face_blur(crop.shape[0], face_size_px)
    if sigma is None:
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


@dataclass(frozen=True)
class PlannedFace:
    """One face of a ``PastePlan``.

    Attributes:
        index: the face's position in the lists the plan was made from (crops, sources, masks).
        roi: (x0, y0, x1, y1), exclusive end: the frame region the face is pasted over.
        roi_affine: float64 [2, 3] sending region pixel (x, y) (origin at (x0, y0), pixel centres at
            integers) to crop pixel coordinates: the warp back is sampled through it.
        alpha: paste strength in (0, 1].
        detail: the detail band d in [0, 1] (module docstring): 1 pastes only the restorer's change.
        overlaps: the region meets an earlier face's: the output there is no longer the input frame.
    """

    index: int
    roi: tuple[int, int, int, int]
    roi_affine: np.ndarray
    alpha: float
    detail: float
    overlaps: bool


@dataclass(frozen=True)
class PastePlan:
    """What pasting one frame's faces does, decided on the host before any pixel is touched.

    Attributes:
        frame_hw: (H, W) of the frame pasted into.
        size: crop side S.
        faces: the faces to paste, in paste order (smaller, farther faces first, so nearer ones end on
            top); faces with alpha 0, an empty mask or no region in the frame are left out.
        masks: per input face, its float32 [S, S] mask in [0, 1], or None for every face's ``soft_mask(S)``.
    """

    frame_hw: tuple[int, int]
    size: int
    faces: tuple[PlannedFace, ...]
    masks: tuple[np.ndarray, ...] | None

    @property
    def needs_sources(self) -> bool:
        """Whether any face needs the crop alignment cut (its detail band is above 0)."""
        return any(face.detail > 0.0 for face in self.faces)

    def mask(self, index: int) -> np.ndarray:
        """float32 [S, S] the mask of input face ``index``."""
        return soft_mask(self.size) if self.masks is None else self.masks[index]


def _per_face(name: str, values: Sequence[float] | None, count: int, default: float) -> list[float]:
    """``values`` as floats in [0, 1] (``default`` each when None), after checking there is one per face."""
    out = [default] * count if values is None else [float(v) for v in values]
    if len(out) != count:
        raise ValueError(f"got {len(out)} {name} for {count} faces")
    if not all(0.0 <= v <= 1.0 for v in out):
        raise ValueError(f"{name} must be in [0, 1], got {out}")
    return out


def _checked_masks(masks: Sequence[np.ndarray | None] | None, count: int, size: int) -> tuple[np.ndarray, ...] | None:
    """Per face float32 [S, S] masks (None entries: the soft mask), or None when every face takes the soft mask."""
    if masks is None:
        return None
    if len(masks) != count:
        raise ValueError(f"got {len(masks)} masks for {count} faces")
    out = []
    for mask in masks:
        mask = soft_mask(size) if mask is None else np.asarray(mask, np.float32)
        if mask.shape != (size, size):
            raise ValueError(f"masks must be [{size}, {size}] like the crops, got {list(mask.shape)}")
        out.append(mask)
    return tuple(out)


def _roi_affine(affine: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """The frame -> crop ``affine`` for region pixels (origin at the region's corner), float64 [2, 3]."""
    a = np.asarray(affine, np.float64)
    return np.concatenate([a[:, :2], a[:, :2] @ np.array([[roi[0]], [roi[1]]]) + a[:, 2:]], axis=1)


def plan_paste(frame_hw: tuple[int, int], affines: Sequence[np.ndarray], size: int, *,
               alphas: Sequence[float] | None = None, masks: Sequence[np.ndarray | None] | None = None,
               detail: Sequence[float] | None = None) -> PastePlan:
    """The ``PastePlan`` for pasting N crops of side ``size`` into a frame of ``frame_hw`` (H, W).

    Args:
        affines: N float [2, 3] frame -> crop affines.
        alphas: per-face weight in [0, 1] (0: the face is skipped); None: 1 for every face.
        masks: per-face float [S, S] masks in [0, 1] (e.g. face parsing); None entries, or no list,
            use ``soft_mask(S)``.
        detail: per-face detail band in [0, 1] (module docstring; ``faces.detail.detail_strength``);
            None: 0 for every face (the crop is pasted).

    Raises:
        ValueError: a list without one entry per face, a value outside [0, 1], an affine that is not
            [2, 3] or a mask that is not [S, S].
    """
    count = len(affines)
    if size <= 0:
        raise ValueError(f"crop size must be positive, got {size}")
    for affine in affines:
        if np.shape(affine) != (2, 3):
            raise ValueError(f"affines must be [2, 3], got {list(np.shape(affine))}")
    alphas = _per_face("alphas", alphas, count, 1.0)
    bands = _per_face("detail strengths", detail, count, 0.0)
    checked = _checked_masks(masks, count, size)
    planned = []
    for k in sorted(range(count), key=lambda k: affine_scale(affines[k]), reverse=True):
        if alphas[k] == 0.0:
            continue
        support = _soft_mask_support(size) if checked is None else mask_support(checked[k] > 0)
        roi = None if support is None else face_roi(affines[k], support, frame_hw)
        if roi is not None:
            overlaps = any(_meet(roi, earlier.roi) for earlier in planned)
            planned.append(PlannedFace(k, roi, _roi_affine(affines[k], roi), alphas[k], bands[k], overlaps))
    return PastePlan((int(frame_hw[0]), int(frame_hw[1])), int(size), tuple(planned), checked)


def _meet(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two regions (x0, y0, x1, y1), exclusive end, share a pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


_BACK = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP


def paste_planned(plan: PastePlan, frame: np.ndarray, crops: Sequence[np.ndarray],
                  sources: Sequence[np.ndarray | None] | None = None, *,
                  weight: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Carry out ``plan`` with OpenCV: the host executor.

    Args:
        frame: uint8 [H, W, 3] RGB, the frame the plan was made for.
        crops: per input face, uint8 [S, S, 3] the restored crop.
        sources: per input face, uint8 [S, S, 3] the crop alignment cut from ``frame``; needed (not
            None) for the faces whose detail band is above 0.
        weight: also return the combined per-pixel paste weight.

    Returns:
        (new uint8 [H, W, 3] frame; with ``weight``, float32 [H, W] in [0, 1]: how much of each output
        pixel comes from the pasted faces, 1 - prod(1 - w_k) over the faces, else None).
    """
    if frame.shape[:2] != plan.frame_hw:
        raise ValueError(f"the plan is for a {plan.frame_hw} frame, got {frame.shape[:2]}")
    if plan.needs_sources and sources is None:
        raise ValueError("faces with a detail band above 0 need the aligned source crops")
    out = frame.copy()
    cover = np.zeros(plan.frame_hw, np.float32) if weight else None
    for face in plan.faces:
        x0, y0, x1, y1 = face.roi
        dsize = (x1 - x0, y1 - y0)
        w = cv2.warpAffine(plan.mask(face.index), face.roi_affine, dsize, flags=_BACK,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if face.alpha != 1.0:
            w *= face.alpha
        region = np.ascontiguousarray(out[y0:y1, x0:x1])
        crop = crops[face.index]
        if face.detail == 0.0:
            warped = cv2.warpAffine(crop, face.roi_affine, dsize, flags=_BACK, borderMode=cv2.BORDER_REPLICATE)
            # face * w + region * (1 - w), rounded: cv2's fused uint8 blend is ~10x faster than float numpy here.
            out[y0:y1, x0:x1] = cv2.blendLinear(warped, region, w, 1.0 - w)
        else:
            out[y0:y1, x0:x1] = _paste_change(frame[y0:y1, x0:x1], region, crop, sources[face.index], face, w)
        if cover is not None:
            cover[y0:y1, x0:x1] += w * (1.0 - cover[y0:y1, x0:x1])
    return out, cover


def _paste_change(base: np.ndarray, region: np.ndarray, crop: np.ndarray, source: np.ndarray, face: PlannedFace,
                  w: np.ndarray) -> np.ndarray:
    """uint8 region + w * (face - region) for a face with a detail band above 0 (module docstring);
    ``base`` is the input frame's region, ``region`` the output's so far."""
    x0, y0, x1, y1 = face.roi
    dsize = (x1 - x0, y1 - y0)
    change = cv2.warpAffine(cv2.subtract(crop, source, dtype=cv2.CV_32F), face.roi_affine, dsize, flags=_BACK,
                            borderMode=cv2.BORDER_REPLICATE)
    if face.detail < 1.0:
        back = cv2.warpAffine(source, face.roi_affine, dsize, flags=_BACK, borderMode=cv2.BORDER_REPLICATE)
        change = cv2.scaleAdd(cv2.subtract(back, base, dtype=cv2.CV_32F), 1.0 - face.detail, change)
    if face.overlaps:  # an earlier face changed the region: blend from what is there now
        change = cv2.add(change, cv2.subtract(base, region, dtype=cv2.CV_32F))
    return cv2.add(region, cv2.multiply(change, cv2.merge([w, w, w])), dtype=cv2.CV_8U)  # rounded, saturated


def paste_faces(
    frame: np.ndarray,
    faces: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    alphas: Sequence[float] | None = None,
    masks: Sequence[np.ndarray | None] | None = None,
    detail: Sequence[float] | None = None,
    sources: Sequence[np.ndarray] | None = None,
    weight_out: np.ndarray | None = None,
) -> np.ndarray:
    """Blend restored crops back into a copy of ``frame``: ``plan_paste`` then ``paste_planned``.

    Each crop and its mask are warped back only over the face's region (never the whole frame).
    Overlapping faces are composited one over the other, smaller (farther) faces first, so the nearer
    face ends on top and every pixel stays a convex mix of the inputs.

    Args:
        frame: uint8 [H, W, 3] RGB.
        faces: (crop uint8 [S, S, 3], affine float32 [2, 3] frame -> crop) per face.
        alphas, masks, detail: as for ``plan_paste``.
        sources: per face, uint8 [S, S, 3] the crop alignment cut from ``frame``; cut here (with
            ``faces.align.warp_to_crop``) when omitted and a detail band is above 0.
        weight_out: optional float32 [H, W] that receives the combined paste weight in [0, 1] (0 exactly
            where no face changed the pixel).

    Returns:
        New uint8 [H, W, 3] frame.
    """
    if not faces:
        _per_face("alphas", alphas, 0, 1.0)
        if weight_out is not None:
            weight_out[...] = 0.0
        return frame.copy()
    size = faces[0][0].shape[0]
    for crop, _ in faces:
        if crop.dtype != np.uint8 or crop.shape != (size, size, 3):
            raise ValueError(f"crops must be uint8 [{size}, {size}, 3], got {crop.dtype} {list(crop.shape)}")
    plan = plan_paste(frame.shape[:2], [affine for _, affine in faces], size, alphas=alphas, masks=masks,
                      detail=detail)
    if sources is None and plan.needs_sources:
        sources = [warp_to_crop(frame, np.asarray(affine, np.float32), size) for _, affine in faces]
    out, cover = paste_planned(plan, frame, [crop for crop, _ in faces], sources, weight=weight_out is not None)
    if weight_out is not None:
        weight_out[...] = cover
    return out
