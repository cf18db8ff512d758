"""Alignment crops and the masked paste-back in torch (``affine_grid``-style sampling + ``grid_sample``).

The same geometry as ``faces.align`` / ``faces.paste`` (affines are float [2, 3] frame -> crop, pixel
centres at integers, OpenCV's convention; masks, their support and each face's frame region come
from ``faces.paste``), so results match OpenCV's within one level away from the borders (OpenCV
works in fixed point; on the crop's and the frame's edge rows a few pixels differ by up to 3).
Images are uint8 [..., H, W, 3] RGB tensors; any device.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..faces.align import affine_scale
from ..faces.paste import accumulate_weight, face_roi, mask_support, soft_mask


def _grid(maps: Tensor, width: int, height: int, in_w: int, in_h: int) -> Tensor:
    """Sampling grid [N, height, width, 2] for ``grid_sample(align_corners=True)``.

    ``maps`` float64 [N, 2, 3] send output pixel (x, y) to input pixel coordinates.
    """
    dev = maps.device
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64, device=dev),
                            torch.arange(width, dtype=torch.float64, device=dev), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1)  # [h, w, 3]
    src = torch.einsum("hwk,nck->nhwc", pts, maps)  # [N, h, w, 2] input pixel coordinates
    scale = torch.tensor([2.0 / max(in_w - 1, 1), 2.0 / max(in_h - 1, 1)], dtype=torch.float64, device=dev)
    return (src * scale - 1.0).float()


def _inverse(affines: Tensor) -> Tensor:
    """float64 [N, 2, 3] inverses of float [N, 2, 3] affines."""
    a = affines.double()
    lin = torch.linalg.inv(a[:, :, :2])
    return torch.cat([lin, -lin @ a[:, :, 2:]], dim=2)


def _planar(images: Tensor) -> Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W]."""
    return images.permute(0, 3, 1, 2).float()


def _to_uint8(planar: Tensor) -> Tensor:
    """float [N, 3, H, W] -> uint8 [N, H, W, 3] (rounded, clamped)."""
    return planar.round().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def align_crops(frame: Tensor, affines: Tensor, size: int) -> Tensor:
    """The faces of one frame warped to the template, like ``faces.align.align_face`` (reflected borders).

    Args:
        frame: uint8 [H, W, 3] RGB.
        affines: float [N, 2, 3], frame -> crop.
        size: crop side S.

    Returns:
        uint8 [N, S, S, 3] crops, sampled in one ``grid_sample`` call (faces stacked along the height).
    """
    n = affines.shape[0]
    if n == 0:
        return frame.new_empty((0, size, size, 3))
    h, w = frame.shape[:2]
    grid = _grid(_inverse(affines.to(frame.device)), size, size, w, h)  # [N, S, S, 2]
    sampled = F.grid_sample(_planar(frame[None]), grid.reshape(1, n * size, size, 2), mode="bilinear",
                            padding_mode="reflection", align_corners=True)  # reflection about pixel centres = REFLECT_101
    return _to_uint8(sampled.view(3, n, size, size).transpose(0, 1))


def paste_faces(frame: Tensor, crops: Tensor, affines: Sequence[np.ndarray], *,
                alphas: Sequence[float] | None = None, masks: Tensor | None = None,
                detail: Sequence[float] | None = None, sources: Tensor | None = None,
                weight_out: Tensor | None = None) -> Tensor:
    """Blend restored crops into a copy of ``frame``, like ``faces.paste.paste_faces``.

    Args:
        frame: uint8 [H, W, 3] RGB.
        crops: uint8 [N, S, S, 3] restored crops, on the frame's device.
        affines: N float32 [2, 3] frame -> crop affines (host arrays: each face's region is computed
            on the host, from the same geometry as the OpenCV path).
        alphas: per-face weight in [0, 1] (0 skips the face); no list = 1 for every face.
        masks: float [N, S, S] in [0, 1], or None for ``faces.paste.soft_mask(S)``.
        detail: per-face strength in [0, 1] of ``frame``'s fine detail that the crop could not hold
            (``faces.detail``), added to the pasted face; None or 0 adds none.
        sources: uint8 [N, S, S, 3] the crops alignment cut from ``frame`` (``align_crops``), needed
            when any ``detail`` is above 0: the detail is ``frame - warp_back(sources)``.
        weight_out: optional float32 [H, W] zeros on the frame's device that receive the combined paste weight.

    Returns:
        New uint8 [H, W, 3] frame. Smaller faces are pasted first, so nearer ones end on top.
    """
    alphas = [1.0] * len(affines) if alphas is None else [float(a) for a in alphas]
    if len(alphas) != len(affines) or not all(0.0 <= a <= 1.0 for a in alphas):
        raise ValueError(f"need one alpha in [0, 1] per face, got {alphas} for {len(affines)} faces")
    detail = [0.0] * len(affines) if detail is None else [float(d) for d in detail]
    if len(detail) != len(affines) or (any(detail) and (sources is None or len(sources) != len(affines))):
        raise ValueError(f"need one detail strength per face, and the aligned source crops for any above 0; "
                         f"got {len(detail)} strengths for {len(affines)} faces")
    out = frame.clone()
    h, w = frame.shape[:2]
    size = crops.shape[1]
    if masks is None:
        masks = torch.from_numpy(np.array(soft_mask(size))).to(frame.device).expand(len(affines), size, size)
        supports = [mask_support(soft_mask(size) > 0)] * len(affines)
    else:
        supports = [mask_support(m > 0) for m in masks.cpu().numpy()]
    order = sorted(range(len(affines)), key=lambda k: affine_scale(affines[k]), reverse=True)
    for k in order:
        roi = None if supports[k] is None or alphas[k] == 0.0 else face_roi(affines[k], supports[k], (h, w))
        if roi is None:
            continue
        x0, y0, x1, y1 = roi
        a = torch.from_numpy(np.asarray(affines[k], np.float64)).to(frame.device)
        shifted = torch.cat([a[:, :2], a[:, :2] @ a.new_tensor([[x0], [y0]]) + a[:, 2:]], dim=1)
        grid = _grid(shifted[None], x1 - x0, y1 - y0, size, size)
        face = F.grid_sample(_planar(crops[k][None]), grid, mode="bilinear", padding_mode="border",
                             align_corners=True).round_()  # OpenCV's path rounds the warped face to uint8
        if detail[k] > 0.0:  # faces.detail.lost_detail: the band the warp round trip lost, from the input frame
            back = F.grid_sample(_planar(sources[k][None]), grid, mode="bilinear", padding_mode="border",
                                 align_corners=True).round_()
            fine = _planar(frame[y0:y1, x0:x1][None]) - back
            face = face.add_(fine, alpha=detail[k]).round_().clamp_(0, 255)
        weight = F.grid_sample(masks[k][None, None].float(), grid, mode="bilinear", padding_mode="zeros",
                               align_corners=True) * alphas[k]
        region = _planar(out[y0:y1, x0:x1][None])
        out[y0:y1, x0:x1] = _to_uint8(face * weight + region * (1.0 - weight))[0]
        accumulate_weight(weight_out, roi, weight[0, 0])
    return out
