"""Alignment crops and the torch executor of ``faces.paste``'s plans, on any device.

One warp primitive, ``warp_affine``, does all the sampling, with one convention: a map is a host
float [2, 3] affine sending output pixel (x, y) to input pixel ``map @ (x, y, 1)``, pixel centres at
integers (OpenCV's ``WARP_INVERSE_MAP``; a frame -> crop affine is the map that cuts a crop). Each
grid is built on the device from the map's six numbers, so no map crosses to the device and nothing
is inverted there. Paste-back samples the face, its source and its mask together, in one call.

Results match OpenCV's within one level away from the borders (OpenCV works in fixed point; on the
crop's and the frame's edge rows a few pixels differ by up to 3). Images are uint8 [..., H, W, 3] RGB
tensors.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..faces.align import invert_affine
from ..faces.paste import PastePlan, PlannedFace, soft_mask

_PADDING = {"replicate": "border", "reflect": "reflection", "zeros": "zeros"}


def warp_affine(images: Tensor, maps: Sequence[np.ndarray], dsize: tuple[int, int], *,
                border: str = "replicate") -> Tensor:
    """Sample ``images`` through affine ``maps`` (module docstring), bilinear.

    Args:
        images: float [N, C, h, w], or [1, C, h, w] shared by every map.
        maps: N float [2, 3] host arrays, output pixel -> input pixel.
        dsize: (width, height) of the output.
        border: outside the input: "replicate" its edge, "reflect" about its edge pixels
            (OpenCV's BORDER_REFLECT_101) or "zeros".

    Returns:
        float32 [N, C, height, width].
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"expected float images [N, C, h, w], got {images.dtype} {list(images.shape)}")
    if images.shape[0] not in (1, len(maps)):
        raise ValueError(f"got {images.shape[0]} images for {len(maps)} maps")
    if any(np.shape(m) != (2, 3) for m in maps):
        raise ValueError(f"maps must be [2, 3], got {[list(np.shape(m)) for m in maps]}")
    if border not in _PADDING:
        raise ValueError(f"border must be one of {sorted(_PADDING)}, got {border!r}")
    n, (width, height) = len(maps), dsize
    if n == 0:
        return images.new_empty((0, images.shape[1], height, width))
    in_h, in_w = images.shape[-2:]
    xs = torch.arange(width, dtype=torch.float32, device=images.device)[None, :]
    ys = torch.arange(height, dtype=torch.float32, device=images.device)[:, None]
    grids = []
    for m in maps:
        # align_corners=True: input pixel u sits at 2 u / (in - 1) - 1; folded into the map's numbers on the host.
        sx, sy = 2.0 / max(in_w - 1, 1), 2.0 / max(in_h - 1, 1)
        (a, b, c), (d, e, f) = (float(v) for v in m[0]), (float(v) for v in m[1])
        grids.append(torch.stack([xs * (a * sx) + ys * (b * sx) + (c * sx - 1.0),
                                  xs * (d * sy) + ys * (e * sy) + (f * sy - 1.0)], -1))
    mode = _PADDING[border]
    if images.shape[0] == 1 and n > 1:  # one input: the outputs stacked along the height, one call
        out = F.grid_sample(images, torch.cat(grids)[None], mode="bilinear", padding_mode=mode, align_corners=True)
        return out.view(images.shape[1], n, height, width).transpose(0, 1)
    return F.grid_sample(images, torch.stack(grids), mode="bilinear", padding_mode=mode, align_corners=True)


def _planar(images: Tensor) -> Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W]."""
    return images.permute(0, 3, 1, 2).float()


def _to_uint8(planar: Tensor) -> Tensor:
    """float [N, 3, H, W] -> uint8 [N, H, W, 3] (rounded, clamped)."""
    return planar.round().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def align_crops(frame: Tensor, affines: Sequence[np.ndarray], size: int) -> Tensor:
    """The faces of one frame warped to the template, like ``faces.align.warp_to_crop`` (reflected borders).

    Args:
        frame: uint8 [H, W, 3] RGB.
        affines: N float [2, 3] frame -> crop host arrays.
        size: crop side S.

    Returns:
        uint8 [N, S, S, 3] crops, on the frame's device.
    """
    maps = [invert_affine(affine) for affine in affines]  # crop pixel -> frame pixel
    return _to_uint8(warp_affine(_planar(frame[None]), maps, (size, size), border="reflect"))


@lru_cache(maxsize=8)
def _padded_soft_mask(size: int, device: torch.device) -> Tensor:
    """``soft_mask(size)`` on ``device``, float32 [S + 2, S + 2] with a ring of zeros: uploaded once."""
    return F.pad(torch.from_numpy(np.array(soft_mask(size))), (1, 1, 1, 1)).to(device)


def _face_stack(plan: PastePlan, face: PlannedFace, crops: Tensor, sources: Tensor | None,
                masks: Tensor | None) -> Tensor:
    """float32 [1, C, S + 2, S + 2]: what one face samples, in one warp: the crop (d = 0) or the restorer's
    change (d > 0), the source (0 < d < 1), and the mask last; the images' ring repeats their edge, the
    mask's is 0, so that one "replicate" warp samples the images with replicated borders and the mask
    with zeros outside."""
    k = face.index
    crop = _planar(crops[k][None])
    if face.detail == 0.0:
        images = crop
    else:
        source = _planar(sources[k][None])
        images = crop - source if face.detail == 1.0 else torch.cat([crop - source, source], 1)
    images = F.pad(images, (1, 1, 1, 1), mode="replicate")
    if masks is None:
        mask = _padded_soft_mask(plan.size, crops.device)
    else:
        mask = F.pad(masks[k].float(), (1, 1, 1, 1))
    return torch.cat([images, mask[None, None]], 1)


def paste_planned(plan: PastePlan, frame: Tensor, crops: Tensor, sources: Tensor | None = None, *,
                  masks: Tensor | None = None, weight: bool = False) -> tuple[Tensor, Tensor | None]:
    """Carry out ``plan`` (``faces.paste.plan_paste``) in torch: the device executor of
    ``faces.paste.paste_planned``, with the same arithmetic.

    Args:
        frame: uint8 [H, W, 3] RGB, the frame the plan was made for.
        crops: uint8 [N, S, S, 3] restored crops, on the frame's device.
        sources: uint8 [N, S, S, 3] the crops alignment cut from ``frame`` (``align_crops``); needed
            when a face's detail band is above 0.
        masks: float [N, S, S] the plan's masks on the device, when it has its own (``plan.masks``);
            None: the soft mask, kept on each device after its first upload.
        weight: also return the combined per-pixel paste weight.

    Returns:
        (new uint8 [H, W, 3] frame; with ``weight``, float32 [H, W] in [0, 1], 1 - prod(1 - w_k), else None).
    """
    if tuple(frame.shape[:2]) != plan.frame_hw:
        raise ValueError(f"the plan is for a {plan.frame_hw} frame, got {tuple(frame.shape[:2])}")
    if plan.needs_sources and sources is None:
        raise ValueError("faces with a detail band above 0 need the aligned source crops")
    if (masks is None) != (plan.masks is None):
        raise ValueError("give the device masks exactly when the plan has its own masks")
    out = frame.clone()
    cover = torch.zeros(plan.frame_hw, dtype=torch.float32, device=frame.device) if weight else None
    for face in plan.faces:
        x0, y0, x1, y1 = face.roi
        shifted = face.roi_affine + np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])  # crop pixel -> ringed pixel
        sampled = warp_affine(_face_stack(plan, face, crops, sources, masks), [shifted], (x1 - x0, y1 - y0))
        w = sampled[:, -1:] * face.alpha
        region = _planar(out[y0:y1, x0:x1][None])
        if face.detail == 0.0:
            change = sampled[:, :3].round() - region  # the host path warps the crop to uint8
        else:
            change = sampled[:, :3]
            base = _planar(frame[y0:y1, x0:x1][None])
            if face.detail < 1.0:
                change = change + (1.0 - face.detail) * (sampled[:, 3:6] - base)
            if face.overlaps:
                change = change + (base - region)
        out[y0:y1, x0:x1] = _to_uint8(region + w * change)[0]
        if cover is not None:
            cover[y0:y1, x0:x1] += w[0, 0] * (1.0 - cover[y0:y1, x0:x1])
    return out, cover
