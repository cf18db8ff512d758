"""GPEN FullGenerator (Yang et al., CVPR 2021) in pure PyTorch, checkpoint-compatible.

The module tree and parameter names follow the published checkpoints (see ``layouts.json``), so
official ``GPEN-BFR-*.pth`` files load with ``strict=True``. The arithmetic is written for speed:

* Blur / upfirdn2d with the 4x4 FIR kernel runs as one depthwise convolution (``groups=C``), with
  zero padding done by the convolution itself (no pad or permute copies). Upsampling by 2 with the
  FIR kernel is a depthwise stride-2 transposed convolution.
* Modulated convolutions have two equivalent forms. ``unfused`` (the default) scales the activations
  by the style, runs one convolution with the shared weight over the whole batch, and applies
  demodulation to the output. ``fused`` builds per-sample weights and runs one grouped convolution,
  as the reference does; it batches poorly and measured slower on CPU even at batch 1
  (see docs/restorer.md), so it is kept for the benchmark and the equivalence tests.
* Bias, demodulation, noise concatenation and the scaled leaky ReLU are written straight into the
  output halves, one pass each.
* Style vectors and demodulation factors are computed in fp32 even under autocast; under fp16 the
  activations are clamped so StyleGAN2's large intermediate values cannot overflow.
* Constants derived from the parameters (equalised-lr weight scaling, FIR kernels expanded per
  channel, biases times sqrt(2), dtype casts) can be folded once (``fold_constants``): one recorded
  forward pass stores each as it is derived, and later passes reuse it (about a third fewer kernel
  launches). The parameters and the state_dict are untouched; moving the model or loading weights
  drops the folded values.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .gpen_layers import (
    ConstantInput,
    ConvLayer,
    EqualLinear,
    PixelNorm,
    StyledConv,
    ToRGB,
    autocast_off,
    cast_to,
    drop_folded,
    fold_constants,
    folded_values,
    set_modconv_mode,
)

__all__ = ["FullGenerator", "build_gpen", "channels", "fold_constants", "folded_values", "set_modconv_mode"]


def channels(resolution: int, channel_multiplier: int, narrow: float) -> int:
    """Channel count of the feature maps at ``resolution`` (4 .. 2048)."""
    if resolution <= 32:
        return int(512 * narrow)
    base = {64: 256, 128: 128, 256: 64, 512: 32, 1024: 16, 2048: 8}[resolution]
    return int(base * channel_multiplier * narrow)

class Generator(nn.Module):
    """StyleGAN2 synthesis network whose noise inputs are GPEN encoder features (concatenated)."""

    def __init__(self, size: int, style_dim: int, n_mlp: int, channel_multiplier: int, narrow: float) -> None:
        super().__init__()
        self.log_size = int(math.log2(size))
        ch = {2**r: channels(2**r, channel_multiplier, narrow) for r in range(2, self.log_size + 1)}
        mlp: list[nn.Module] = [PixelNorm()]
        mlp += [EqualLinear(style_dim, style_dim, lr_mul=0.01, activate=True) for _ in range(n_mlp)]
        self.style = nn.Sequential(*mlp)
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim)
        self.to_rgb1 = ToRGB(ch[4] * 2, style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_ch = ch[4]
        for r in range(3, self.log_size + 1):
            out_ch = ch[2**r]
            self.convs.append(StyledConv(in_ch * 2, out_ch, 3, style_dim, upsample=True))
            self.convs.append(StyledConv(out_ch * 2, out_ch, 3, style_dim))
            self.to_rgbs.append(ToRGB(out_ch * 2, style_dim))
            in_ch = out_ch

    def forward(self, latent: Tensor, features: list[Tensor]) -> Tensor:
        """latent z [N, style_dim]; features at 4, 8, ..., size -> RGB [N, 3, size, size] (fp32).

        Every layer uses the same w (GPEN injects one latent).
        """
        with autocast_off(latent):
            w = self.style(cast_to(latent, self.input.input.dtype))
        f4 = features[0]
        x = self.input(f4.shape[0], f4.dtype)
        if not f4.is_contiguous():
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.conv1(x, w, f4)
        skip = self.to_rgb1(x, w)
        for i, feat in enumerate(features[1:]):
            x = self.convs[2 * i](x, w, feat)
            x = self.convs[2 * i + 1](x, w, feat)
            skip = self.to_rgbs[i](x, w, skip)
        return skip


class FullGenerator(nn.Module):
    """GPEN: a U-shaped encoder whose features and latent drive a StyleGAN2 decoder.

    Input: RGB [N, 3, S, S] float in [-1, 1] (NCHW or channels_last). Output: RGB [N, 3, S, S] fp32,
    roughly in [-1, 1]. S = ``in_size`` (a power of two, >= 16).
    """

    def __init__(self, in_size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                 narrow: float = 1.0) -> None:
        super().__init__()
        log_size = int(math.log2(in_size))
        if 2**log_size != in_size or in_size < 16:
            raise ValueError(f"in_size must be a power of two >= 16, got {in_size}")
        self.in_size = in_size
        self.generator = Generator(in_size, style_dim, n_mlp, channel_multiplier, narrow)
        self.n_encoders = log_size - 1
        ch = lambda r: channels(r, channel_multiplier, narrow)  # noqa: E731
        self.ecd0 = nn.Sequential(ConvLayer(3, ch(in_size), 1))
        for i in range(1, self.n_encoders):
            r = in_size // 2 ** (i - 1)
            setattr(self, f"ecd{i}", nn.Sequential(ConvLayer(ch(r), ch(r // 2), 3, downsample=True)))
        self.final_linear = nn.Sequential(EqualLinear(ch(4) * 16, style_dim, activate=True))
        self.register_load_state_dict_post_hook(lambda module, _keys: drop_folded(module))

    def _apply(self, fn, recurse=True):  # .to() / .cuda() / .half(): folded values would be stale
        drop_folded(self)
        return super()._apply(fn, recurse)

    def forward(self, x: Tensor) -> Tensor:
        """[N, 3, S, S] in [-1, 1] -> [N, 3, S, S] fp32."""
        if x.shape[1:] != (3, self.in_size, self.in_size):
            raise ValueError(f"expected input [N, 3, {self.in_size}, {self.in_size}], got {list(x.shape)}")
        feats = []
        for i in range(self.n_encoders):
            x = getattr(self, f"ecd{i}")(x)
            feats.append(x)
        with autocast_off(x):
            z = self.final_linear(cast_to(x, self.final_linear[0].weight.dtype).flatten(1))
        return self.generator(z, feats[::-1])

def build_gpen(in_size: int, channel_multiplier: int = 2, narrow: float = 1.0, style_dim: int = 512,
               n_mlp: int = 8) -> nn.Module:
    """Build a GPEN FullGenerator with random weights (eval mode).

    Build under ``with torch.device("meta"):`` to get the layout without allocating weights.
    """
    return FullGenerator(in_size, style_dim=style_dim, n_mlp=n_mlp, channel_multiplier=channel_multiplier,
                         narrow=narrow).eval()
