"""YUV 4:2:0 <-> RGB in torch, batched, on any device, matching swscale (what PyAV uses).

RGB is uint8 [N, H, W, 3]; planes are uint8 Y [N, H, W] and U, V [N, ceil(H/2), ceil(W/2)].
Matrices are named as in ``media.colour`` ("itu709", "itu601", "bt2020", "smpte240m"); ranges are
limited ("mpeg": Y in 16..235, chroma in 16..240) or full ("jpeg").

Encoding averages each 2x2 block's chroma (centred siting), as swscale does for rgb24 -> yuv420p:
measured on a real frame, Y is within 1 level of swscale's and U/V within 2 (mean 0.13). Decoding
repeats each chroma sample over its 2x2 block and truncates, like swscale's yuv420p -> rgb24 fast
path: within 2 levels of it (mean 0.7). The arithmetic is float32, exact to the formulas otherwise.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Kr, Kb of each matrix (Kg = 1 - Kr - Kb).
_KR_KB = {"itu709": (0.2126, 0.0722), "itu601": (0.299, 0.114), "bt2020": (0.2627, 0.0593),
          "smpte240m": (0.212, 0.087)}


def _coefficients(matrix: str) -> tuple[float, float, float]:
    if matrix not in _KR_KB:
        raise ValueError(f"unknown matrix {matrix!r} (use one of {sorted(_KR_KB)})")
    kr, kb = _KR_KB[matrix]
    return kr, 1.0 - kr - kb, kb


def _levels(colour_range: str) -> tuple[float, float, float]:
    """(luma offset, luma scale, chroma scale) in 8-bit levels for unit-range values."""
    if colour_range == "mpeg":
        return 16.0, 219.0, 224.0
    if colour_range == "jpeg":
        return 0.0, 255.0, 255.0
    raise ValueError(f"unknown range {colour_range!r} (use mpeg or jpeg)")


def rgb_to_yuv420(rgb: Tensor, *, matrix: str = "itu709", colour_range: str = "mpeg") -> tuple[Tensor, Tensor, Tensor]:
    """uint8 RGB [N, H, W, 3] -> uint8 planes (Y [N, H, W], U and V [N, ceil(H/2), ceil(W/2)]).

    Odd sizes replicate the last row/column for the chroma average.
    """
    if rgb.dtype != torch.uint8 or rgb.ndim != 4 or rgb.shape[-1] != 3:
        raise ValueError(f"expected uint8 RGB [N, H, W, 3], got {rgb.dtype} {list(rgb.shape)}")
    kr, kg, kb = _coefficients(matrix)
    offset, y_scale, c_scale = _levels(colour_range)
    x = rgb.permute(0, 3, 1, 2).float().mul_(1.0 / 255.0)  # [N, 3, H, W] in [0, 1]
    r, g, b = x.unbind(1)
    luma = r * kr + g * kg + b * kb
    y = luma * y_scale + offset
    h, w = luma.shape[-2:]
    chroma = torch.stack([(b - luma) * (c_scale / (2 * (1 - kb))), (r - luma) * (c_scale / (2 * (1 - kr)))], 1)
    if h % 2 or w % 2:
        chroma = F.pad(chroma, (0, w % 2, 0, h % 2), mode="replicate")
    chroma = F.avg_pool2d(chroma, 2) + 128.0
    u, v = (c.round_().clamp_(0, 255).to(torch.uint8) for c in chroma.unbind(1))
    return y.round_().clamp_(0, 255).to(torch.uint8), u, v


def rgb_to_i420(rgb: Tensor, *, matrix: str = "itu709", colour_range: str = "mpeg") -> Tensor:
    """uint8 RGB [H, W, 3] with even H and W -> its yuv420p planes in one uint8 [3 H / 2, W] buffer, Y then U
    then V, each contiguous (the layout ``av.VideoFrame.from_ndarray(..., format="yuv420p")`` takes)."""
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"I420 needs an even size, got {w}x{h}")
    y, u, v = rgb_to_yuv420(rgb[None], matrix=matrix, colour_range=colour_range)
    return torch.cat([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).view(h * 3 // 2, w)


def yuv420_to_rgb(y: Tensor, u: Tensor, v: Tensor, *, matrix: str = "itu709",
                  colour_range: str = "mpeg") -> Tensor:
    """uint8 planes (Y [N, H, W], U and V [N, ceil(H/2), ceil(W/2)]) -> uint8 RGB [N, H, W, 3]."""
    if y.ndim != 3 or u.shape != v.shape or u.shape[-2:] != ((y.shape[1] + 1) // 2, (y.shape[2] + 1) // 2):
        raise ValueError(f"expected planes Y [N, H, W] and U, V [N, H/2, W/2], got {list(y.shape)}, "
                         f"{list(u.shape)}, {list(v.shape)}")
    kr, kg, kb = _coefficients(matrix)
    offset, y_scale, c_scale = _levels(colour_range)
    h, w = y.shape[-2:]
    luma = (y.float() - offset) * (1.0 / y_scale)
    chroma = (torch.stack([u, v], 1).float() - 128.0) * (1.0 / c_scale)
    chroma = chroma.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)[..., :h, :w]
    cb, cr = chroma.unbind(1)
    r = luma + cr * (2 * (1 - kr))
    b = luma + cb * (2 * (1 - kb))
    g = (luma - r * kr - b * kb) * (1.0 / kg)
    rgb = torch.stack([r, g, b], -1).mul_(255.0).add_(0.01)  # float error must not floor 255 to 254
    return rgb.floor_().clamp_(0, 255).to(torch.uint8)
