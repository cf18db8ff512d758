"""Running an image-to-image network over large frames in overlapping tiles, with bounded memory.

Each tile is run with ``overlap`` input pixels of real context on every side and only its core is
kept, so tiles meet without seams once the overlap covers the network's effective receptive field.
Results go straight into a uint8 host array: a 4K frame never needs the whole frame's activations,
nor a float copy of the enlarged frame.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

OVERLAP = 32  # input pixels of context around each tile


def tile_spans(length: int, tile: int) -> list[tuple[int, int]]:
    """Core spans [start, end) covering ``length`` pixels in steps of ``tile`` (one span when tile is 0)."""
    if tile <= 0 or length <= tile:
        return [(0, length)]
    return [(start, min(start + tile, length)) for start in range(0, length, tile)]


@torch.inference_mode()
def run_tiled(
    model: Callable[[Tensor], Tensor],
    frames: np.ndarray,
    *,
    model_scale: int,
    reduce: int = 1,
    tile: int = 0,
    overlap: int = OVERLAP,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> np.ndarray:
    """Enlarge a batch of frames with ``model``, tile by tile.

    Args:
        model: float [B, 3, h, w] in [0, 1] -> float [B, 3, h*model_scale, w*model_scale], on ``device``
            in ``dtype``.
        frames: uint8 [B, H, W, 3] RGB, all of one size.
        model_scale: the network's own scale.
        reduce: each tile's result is box-averaged by this factor on the device (a x4 network giving
            x2 output); it must divide ``model_scale``.
        tile: core side of a tile in input pixels; 0 runs whole frames.
        overlap: context kept around each tile, in input pixels.

    Returns:
        uint8 [B, H*s, W*s, 3] with s = model_scale // reduce.
    """
    if model_scale % reduce:
        raise ValueError(f"reduce {reduce} does not divide the model's scale {model_scale}")
    scale = model_scale // reduce
    count, height, width = frames.shape[:3]
    out = np.empty((count, height * scale, width * scale, 3), np.uint8)
    source = torch.from_numpy(np.ascontiguousarray(frames)).to(device, non_blocking=True).permute(0, 3, 1, 2)
    for y0, y1 in tile_spans(height, tile):
        for x0, x1 in tile_spans(width, tile):
            py0, px0 = max(y0 - overlap, 0), max(x0 - overlap, 0)
            py1, px1 = min(y1 + overlap, height), min(x1 + overlap, width)
            window = source[:, :, py0:py1, px0:px1].to(dtype).div_(255.0)
            result = model(window)
            core = result[:, :, (y0 - py0) * model_scale:(y1 - py0) * model_scale,
                          (x0 - px0) * model_scale:(x1 - px0) * model_scale]
            if reduce > 1:
                core = F.avg_pool2d(core.float(), reduce)
            pixels = core.float().clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).permute(0, 2, 3, 1)
            out[:, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = pixels.cpu().numpy()
    return out
