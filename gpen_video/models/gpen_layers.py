"""GPEN's building blocks (StyleGAN2 layers with equalised learning rate), written for speed, and the folding of
the constants they derive from their parameters; ``models.gpen`` assembles them into the FullGenerator.

Their module tree and parameter names are those of the published checkpoints: ``models.gpen`` explains the
arithmetic (depthwise FIR blur, the unfused and fused modulated convolution, fp32 styles, folded constants).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SQRT2 = math.sqrt(2.0)
FP16_CLAMP = 2.0**13  # far above real activations, far below fp16 max (65504)
MODCONV_MODES = ("unfused", "fused")


def _fir_kernel(scale: float) -> Tensor:
    """The StyleGAN2 4x4 FIR kernel: outer([1,3,3,1]) normalised to sum 1, times ``scale``."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = k[:, None] * k[None, :]
    return k / k.sum() * scale


def autocast_off(x: Tensor) -> AbstractContextManager:
    """Context that switches autocast off, so small style computations stay in fp32.

    Outside autocast it is a no-op context, so fp32 graphs (ONNX export) hold no autocast regions.
    """
    if not torch.is_autocast_enabled(x.device.type):
        return nullcontext()
    return torch.autocast(x.device.type, enabled=False)


def _depthwise(kernel: Tensor, c: int, dtype: torch.dtype) -> Tensor:
    """[C, 1, 4, 4] true-convolution weight (kernel flipped) for a depthwise conv over C channels."""
    return cast_to(kernel.flip([0, 1]), dtype).expand(c, 1, *kernel.shape).contiguous()


def cast_to(t: Tensor, dtype: torch.dtype) -> Tensor:
    """``t`` in ``dtype``; unchanged when it already is, so fp32 graphs (ONNX export) record no casts."""
    return t if t.dtype == dtype else t.to(dtype)


def _new_like(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Empty tensor of ``shape`` in the memory format (NCHW or channels_last) of ``x``."""
    fmt = torch.channels_last if (x.dim() == 4 and not x.is_contiguous()
                                  and x.is_contiguous(memory_format=torch.channels_last)) else torch.contiguous_format
    return torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)


def _leaky_(x: Tensor) -> Tensor:
    """In-place leaky ReLU (slope 0.2); clamped under fp16 to stay finite."""
    F.leaky_relu_(x, 0.2)
    if x.dtype == torch.float16:
        x.clamp_(-FP16_CLAMP, FP16_CLAMP)
    return x


class _Folding(nn.Module):
    """A layer whose forward uses constants derived from its parameters, foldable once.

    ``_const(key, derive)`` returns the folded value for ``key`` when there is one, else ``derive()``
    (recorded while ``fold_constants`` runs its pass). Keys name the constant with its dtype (and
    channel count), so every value is stored exactly as the forward pass would derive it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._folded: dict[tuple, Tensor] = {}
        self._recording = False

    def _const(self, key: tuple, derive: Callable[[], Tensor]) -> Tensor:
        value = self._folded.get(key)
        if value is None:
            value = derive()
            if self._recording:
                self._folded[key] = value
        return value


class PixelNorm(nn.Module):
    """x / sqrt(mean(x^2) + 1e-8) over dim 1. [N, D] -> [N, D]."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(_Folding):
    """Equalised-learning-rate linear layer, optionally followed by the scaled leaky ReLU.

    Args:
        bias_init: initial bias value (1 for modulation layers).
        lr_mul: learning-rate multiplier (0.01 in the style MLP); scales weight and bias.
        activate: apply sqrt(2) * leaky_relu(x + bias, 0.2).
    """

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        """[N, in] -> [N, out]."""
        out = F.linear(x, self._const(("weight",), lambda: self.weight * self.scale),
                       self._const(("bias",), lambda: self.bias * self.lr_mul))
        if self.activate:
            out = F.leaky_relu(out, 0.2) * SQRT2
        return out


class EqualConv2d(_Folding):
    """Equalised conv without bias: weight scaled by 1/sqrt(in * k^2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size**2)
        self.stride = stride
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        w = self._const(("weight", x.dtype), lambda: cast_to(self.weight * self.scale, x.dtype))
        return F.conv2d(x, w, stride=self.stride, padding=self.padding)


class FusedLeakyReLU(_Folding):
    """sqrt(2) * leaky_relu(x + bias, 0.2) with a per-channel bias [C]."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(ch))

    def forward(self, x: Tensor) -> Tensor:
        """[N, C, H, W] -> [N, C, H, W]; sqrt(2) folded into the affine pass (lrelu is 1-homogeneous)."""
        b = self._const(("bias", x.dtype), lambda: cast_to(self.bias * SQRT2, x.dtype).view(1, -1, 1, 1))
        return _leaky_(torch.add(b, x, alpha=SQRT2))


class Blur(_Folding):
    """Depthwise 4x4 FIR filter with symmetric zero padding ``pad`` (the upfirdn2d of StyleGAN2).

    The kernel is a checkpoint buffer named ``kernel`` (pre-multiplied by 4 after a 2x upsample).
    """

    def __init__(self, pad: int, scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("kernel", _fir_kernel(scale))
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        """[N, C, H, W] -> [N, C, H + 2*pad - 3, W + 2*pad - 3]."""
        c = x.shape[1]
        w = self._const(("fir", c, x.dtype), lambda: _depthwise(self.kernel, c, x.dtype))
        return F.conv2d(x, w, padding=self.pad, groups=c)


class Upsample(_Folding):
    """upfirdn2d(up=2, pad=(2, 1)) as a depthwise stride-2 transposed conv. [N,C,H,W] -> [N,C,2H,2W]."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", _fir_kernel(4.0))

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        # Zero-insertion + pad (2, 1) + 4x4 conv equals conv_transpose(stride 2, padding 1); the
        # transposed conv correlates with the flipped weight, so pass the kernel unflipped.
        w = self._const(("fir", c, x.dtype), lambda: cast_to(self.kernel, x.dtype).expand(c, 1, 4, 4).contiguous())
        return F.conv_transpose2d(x, w, stride=2, padding=1, groups=c)


class ConvLayer(nn.Sequential):
    """[Blur(pad 2) ->] EqualConv2d (stride 2 if downsampling) -> FusedLeakyReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, downsample: bool = False) -> None:
        layers: list[nn.Module] = []
        if downsample:
            layers.append(Blur(pad=2))
            layers.append(EqualConv2d(in_ch, out_ch, kernel_size, stride=2, padding=0))
        else:
            layers.append(EqualConv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2))
        layers.append(FusedLeakyReLU(out_ch))
        super().__init__(*layers)


class ModulatedConv2d(_Folding):
    """StyleGAN2 modulated conv. Weight [1, out, in, k, k]; style s = modulation(w) [N, in].

    ``forward`` returns ``(y, d)``: the conv output [N, out, H', W'] and, in the unfused form with
    demodulation, the per-sample demodulation factors [N, out] still to be applied (else None).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)
        if upsample:
            self.blur = Blur(pad=1, scale=4.0)
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size**2)
        self.demodulate = demodulate
        self.upsample = upsample
        self.mode = "unfused"

    def _fused(self, x: Tensor, s: Tensor) -> Tensor:
        n, cin, h, w = x.shape
        with autocast_off(x):
            wt = self.weight * self.scale * s.view(n, 1, cin, 1, 1)
            if self.demodulate:
                wt = wt * torch.rsqrt(wt.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        cout, k = wt.shape[1], wt.shape[-1]
        xg = x.reshape(1, n * cin, h, w)
        if self.upsample:
            wt = wt.transpose(1, 2).reshape(n * cin, cout, k, k)
            y = F.conv_transpose2d(xg, cast_to(wt, x.dtype), stride=2, groups=n)
        else:
            y = F.conv2d(xg, cast_to(wt.reshape(n * cout, cin, k, k), x.dtype), padding=k // 2, groups=n)
        return y.view(n, cout, *y.shape[2:])

    def _unfused(self, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor | None]:
        k = self.weight.shape[-1]

        def w32() -> Tensor:  # [out, in, k, k], shared by the batch
            return self.weight[0] * self.scale

        d = None
        with autocast_off(x):
            if self.demodulate:
                # Demodulated output is invariant to the style's scale: normalise it so x * s
                # stays small under fp16 (the 1e-8 epsilon is the only difference, ~1e-8 relative).
                s = s / s.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
                d = torch.rsqrt(s.pow(2) @ self._const(("demod",), lambda: w32().pow(2).sum(dim=(2, 3)).t()) + 1e-8)
        xs = x * cast_to(s, x.dtype).view(*s.shape, 1, 1)
        if self.upsample:
            y = F.conv_transpose2d(xs, self._const(("weight_t", x.dtype), lambda: cast_to(w32().transpose(0, 1), x.dtype)),
                                   stride=2)
        else:
            y = F.conv2d(xs, self._const(("weight", x.dtype), lambda: cast_to(w32(), x.dtype)), padding=k // 2)
        return y, d

    def forward(self, x: Tensor, style: Tensor) -> tuple[Tensor, Tensor | None]:
        """x: [N, in, H, W]; style: w [N, style_dim] -> (y [N, out, H', W'], d [N, out] | None)."""
        with autocast_off(x):
            s = self.modulation(cast_to(style, self.modulation.weight.dtype))
        if self.mode == "fused":
            y, d = self._fused(x, s), None
        else:
            y, d = self._unfused(x, s)
        if self.upsample:
            y = self.blur(y)  # blur is per-channel linear, so it commutes with the pending d
        return y, d


class NoiseInjection(nn.Module):
    """GPEN's noise: the encoder feature map scaled by ``weight`` [1] and concatenated on channels."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))


class StyledConv(_Folding):
    """Modulated conv -> concat(y, weight * feature) -> FusedLeakyReLU over 2*out channels."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch * 2)

    def forward(self, x: Tensor, style: Tensor, feature: Tensor) -> Tensor:
        """x [N, in, H, W], feature [N, out, H', W'] -> [N, 2*out, H', W']."""
        y, d = self.conv(x, style)
        n, c, h, w = y.shape
        b = self._const(("bias", y.dtype), lambda: cast_to(self.activate.bias * SQRT2, y.dtype).view(1, 2 * c, 1, 1))
        dy = self._const(("sqrt2", y.dtype), lambda: torch.full((1,), SQRT2, dtype=y.dtype, device=y.device)) \
            if d is None else cast_to(d * SQRT2, y.dtype).view(n, c, 1, 1)
        nw = self._const(("noise", y.dtype), lambda: cast_to(self.noise.weight * SQRT2, y.dtype))
        if torch.compiler.is_compiling():  # out= views break Dynamo graphs; Inductor fuses this anyway
            return _leaky_(torch.cat([y * dy, cast_to(feature, y.dtype) * nw], dim=1) + b)
        out = _new_like(y, (n, 2 * c, h, w))
        torch.addcmul(b[:, :c], y, dy, out=out[:, :c])
        torch.addcmul(b[:, c:], cast_to(feature, y.dtype), nw, out=out[:, c:])
        return _leaky_(out)


class ToRGB(_Folding):
    """1x1 modulated conv (no demodulation) to RGB + bias [1,3,1,1] + upsampled previous skip."""

    def __init__(self, in_ch: int, style_dim: int, upsample: bool = True) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        """x [N, in, H, W] -> fp32 RGB [N, 3, H, W]. A per-sample [3, in] matrix product (bmm)
        serves every batch size without a grouped conv or a pass that scales x."""
        n, c, h, w = x.shape
        with autocast_off(x):
            s = self.conv.modulation(cast_to(style, self.conv.modulation.weight.dtype))
            w3 = self._const(("weight",), lambda: self.conv.weight[0, :, :, 0, 0] * self.conv.scale)
            wt = w3 * s.view(n, 1, c)  # [N, 3, in]
        if x.is_contiguous():
            out = torch.bmm(cast_to(wt, x.dtype), x.view(n, c, h * w)).view(n, 3, h, w)
        else:  # channels_last: [N, HW, C] view
            out = torch.bmm(x.permute(0, 2, 3, 1).reshape(n, h * w, c), cast_to(wt, x.dtype).transpose(1, 2))
            out = out.view(n, h, w, 3).permute(0, 3, 1, 2)
        out = cast_to(out, torch.float32) + self.bias  # the RGB skip chain is tiny: keep it in fp32
        if skip is not None:
            with autocast_off(x):
                out = out + self.upsample(skip)
        return out


class ConstantInput(_Folding):
    """Learned constant [1, C, 4, 4], expanded over the batch."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, ch, 4, 4))

    def forward(self, n: int, dtype: torch.dtype) -> Tensor:
        return self._const(("input", dtype), lambda: cast_to(self.input, dtype)).expand(n, -1, -1, -1)


def set_modconv_mode(model: nn.Module, mode: str) -> None:
    """Choose the modulated-conv form of every layer: "unfused" (default, shared weight) or "fused"
    (per-sample weights, grouped conv). Both compute the same function (to ~1e-6 relative)."""
    if mode not in MODCONV_MODES:
        raise ValueError(f"mode must be one of {MODCONV_MODES}, got {mode!r}")
    for m in model.modules():
        if isinstance(m, ModulatedConv2d):
            m.mode = mode


def drop_folded(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, _Folding):
            m._folded = {}


def folded_values(model: nn.Module) -> list[Tensor]:
    """Every folded constant of ``model``: hold them to keep their memory valid (a captured CUDA
    graph reads them by address, even after the model is re-folded or moved)."""
    return [t for m in model.modules() if isinstance(m, _Folding) for t in m._folded.values()]


@contextmanager
def fold_constants(model: nn.Module) -> Iterator[None]:
    """Record the constants of the forward passes run inside this context, and reuse them after.

    Run one pass inside it exactly as later passes will run (same device, autocast dtype and
    memory format); constants a later pass needs but this one did not derive are still derived
    per call. Earlier folded values are dropped first. Weights loaded or the model moved later
    drop them again, so a folded model never computes with stale constants.
    """
    drop_folded(model)
    layers = [m for m in model.modules() if isinstance(m, _Folding)]
    for m in layers:
        m._recording = True
    try:
        yield
    finally:
        for m in layers:
            m._recording = False
