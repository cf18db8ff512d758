"""RetinaFace batch preparation in torch, on the frames' device: ``retina.prepare_batch`` for uint8 tensors.

The resize is OpenCV's INTER_AREA for shrinking, written as two matrix products: each output pixel
averages the input pixels its footprint covers, weighted by the covered fraction, then rounds to
uint8 as ``cv2.resize`` does. On the test media this is within one uint8 level of OpenCV (a handful of
pixels); ``F.interpolate`` is not: "area" (adaptive pooling) differs by up to 56 levels on a 2.08x
shrink and bilinear/bicubic with ``antialias=True`` by up to 25 (other filters).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

from . import retina


@lru_cache(maxsize=16)
def _area_weights(n_in: int, n_out: int, device: torch.device) -> Tensor:
    """float32 [n_out, n_in]: row i holds the share of each input pixel in output pixel i (rows sum to 1).

    Output pixel i covers input [i * s, (i + 1) * s) with s = n_in / n_out >= 1.
    """
    scale = n_in / n_out
    edges = torch.arange(n_out + 1, dtype=torch.float64) * scale
    lo, hi = edges[:-1, None], edges[1:, None]
    j = torch.arange(n_in, dtype=torch.float64)[None]
    return ((torch.minimum(hi, j + 1) - torch.maximum(lo, j)).clamp(min=0) / scale).float().to(device)


def area_resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Shrink uint8 [H, W, C] to ``size`` (h, w), each at most the input's, like ``cv2.INTER_AREA``.

    Returns:
        float32 [h, w, C] holding whole numbers in [0, 255] (OpenCV's rounded uint8 values), same device.
    """
    (h, w), (height, width) = size, image.shape[:2]
    if h > height or w > width:
        raise ValueError(f"area_resize only shrinks: {height}x{width} -> {h}x{w}")
    x = image.float()
    if (h, w) == (height, width):
        return x
    rows = torch.tensordot(_area_weights(height, h, image.device), x, dims=1)  # [h, W, C]
    out = torch.einsum("pw,hwc->hpc", _area_weights(width, w, image.device), rows)
    return out.round_().clamp_(0, 255)


def prepare_batch_torch(images: Sequence[Tensor], sizes: Sequence[tuple[int, int]]) -> Tensor:
    """Torch twin of ``retina.prepare_batch``: RGB uint8 [H, W, 3] tensors (an [N, H, W, 3] tensor
    will do) resized to their (h, w) detection sizes, on their device.

    Returns:
        float32 [N, 3, Hp, Wp] on the images' device, BGR minus mean, zero-padded at the bottom/right
        to ``retina.padded_size(sizes)``.
    """
    hp, wp = retina.padded_size(sizes)
    device = images[0].device
    batch = torch.zeros((len(images), 3, hp, wp), dtype=torch.float32, device=device)
    mean = torch.as_tensor(retina.MEAN_BGR, device=device)
    for k, (im, (h, w)) in enumerate(zip(images, sizes)):
        batch[k, :, :h, :w] = (area_resize(im, (h, w)).flip(-1) - mean).permute(2, 0, 1)
    return batch
