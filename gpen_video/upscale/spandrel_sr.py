"""Network background upsamplers (Real-ESRGAN, RealESRNet and any other SR checkpoint) loaded with spandrel.

spandrel recognises ESRGAN-family and many other super-resolution architectures from a state dict and
builds the matching network, so no architecture is written here.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..models.device import PRECISION_DTYPES, resolve_device, resolve_precision
from ..errors import MissingExtra, WeightsError
from .lanczos import lanczos_resize
from .tiling import OVERLAP, run_tiled

if TYPE_CHECKING:
    from spandrel import ImageModelDescriptor


def load_sr_model(path: str | Path) -> ImageModelDescriptor:
    """A super-resolution network from a checkpoint file (CPU, fp32, eval mode).

    Raises:
        MissingExtra: spandrel is not installed.
        WeightsError: unreadable file, an architecture spandrel does not know, or a model that is not
            an RGB super-resolution model of scale 2 or more (named in one line).
    """
    from ..models.weights import load_state_dict

    try:
        from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError
    except ImportError:
        raise MissingExtra("spandrel", "sr") from None
    path = Path(path)
    state = load_state_dict(path)
    try:
        descriptor = ModelLoader().load_from_state_dict(state)
    except UnsupportedModelError:
        raise WeightsError(f"{path.name} is not a super-resolution model of any architecture spandrel knows "
                           f"(a GPEN or detector file?)") from None
    except Exception as exc:  # noqa: BLE001 - a known architecture whose tensors do not fit it
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path.name} does not load as a super-resolution model: {first}") from None
    kind = f"{descriptor.architecture.name} {descriptor.purpose} model of scale {descriptor.scale}"
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.purpose != "SR" or descriptor.scale < 2:
        raise WeightsError(f"{path.name} is a {kind}, not a super-resolution model (scale 2 or more)")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise WeightsError(f"{path.name} is a {kind} for {descriptor.input_channels}-channel images, not RGB")
    return descriptor.eval()


class SpandrelUpsampler:
    """``Upsampler`` running a spandrel model batched across frames, tiled, in reduced precision where safe.

    The network's own scale m gives the frames m times larger; the output scale N is reached by box
    averaging each tile on the device when N divides m (x4 network, x2 output), else by Lanczos on the
    network's result (x2 network, x3 or x4 output).

    Args:
        descriptor: from ``load_sr_model``.
        scale: output scale N.
        device: "cpu", "cuda", "cuda:N" or "auto".
        precision: "auto" (bf16/fp16 where the device and the architecture support it) or "fp32".
        tile: tile core side in input pixels (0: whole frames).
        overlap: context around each tile, in input pixels.
        batch_size: frames per network call.
    """

    def __init__(self, descriptor: ImageModelDescriptor, *, scale: int, device: str = "cpu",
                 precision: str = "auto", tile: int = 512, overlap: int = OVERLAP, batch_size: int = 2) -> None:
        self.scale, self.tile, self.overlap, self.batch_size = int(scale), int(tile), int(overlap), int(batch_size)
        self.torch_device = resolve_device(device)
        self.precision = resolve_precision(precision, self.torch_device)
        supported = {"bf16": descriptor.supports_bfloat16, "fp16": descriptor.supports_half, "fp32": True}
        if not supported[self.precision]:
            self.precision = "fp32"
        self.dtype = PRECISION_DTYPES[self.precision] or torch.float32
        self.model = descriptor.to(self.torch_device).to(self.dtype)
        self.model_scale = int(descriptor.scale)
        self._reduce = self.model_scale // self.scale if self.model_scale % self.scale == 0 else 1

    @property
    def device(self) -> str:
        return str(self.torch_device)

    def upscale(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not images:
            return []
        out: list[np.ndarray] = []
        start = 0
        while start < len(images):  # batches of consecutive frames of one size (a live source may change size)
            end = start + 1
            while end < len(images) and end - start < self.batch_size and images[end].shape == images[start].shape:
                end += 1
            batch = np.stack(images[start:end])
            start = end
            enlarged = run_tiled(self.model, batch, model_scale=self.model_scale, reduce=self._reduce,
                                 tile=self.tile, overlap=self.overlap, device=self.torch_device, dtype=self.dtype)
            height, width = batch.shape[1] * self.scale, batch.shape[2] * self.scale
            out.extend(lanczos_resize(frame, width, height) for frame in enlarged)
        return out
