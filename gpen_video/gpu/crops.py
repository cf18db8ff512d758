"""The face compositor's crop operations (``protocols.CropOps``) for crops that are uint8 [S, S, 3] tensors
on a torch device, twins of the host's: ``faces.monochrome.keep_luminance``, ``faces.paste.soften_small_face``
and the temporal blender (``gpu.temporal``). Nothing here leaves the device except ``to_host``."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..faces.monochrome import _LUMA
from ..faces.paste import small_face_blur
from .temporal import TorchTemporalBlender


class TensorCropOps:
    """``protocols.CropOps`` for crop tensors."""

    def stack(self, crops: Sequence[Tensor]) -> Tensor:
        return torch.stack(list(crops))

    def keep_luminance(self, restored: Tensor, source: Tensor) -> Tensor:
        src = source.float()
        shift = sum((restored[..., c].float() - src[..., c]) * float(_LUMA[c]) for c in range(3))
        return (src + shift[..., None]).round_().clamp_(0, 255).to(torch.uint8)

    def soften(self, crop: Tensor, face_size_px: float) -> Tensor:
        sigma = small_face_blur(crop.shape[0], face_size_px)
        if sigma is None:
            return crop
        return gaussian_blur(crop, sigma)

    def blender(self, strength: float) -> TorchTemporalBlender:
        return TorchTemporalBlender(strength)

    def to_host(self, crops: Tensor) -> np.ndarray:
        return crops.cpu().numpy()


def gaussian_blur(crop: Tensor, sigma: float) -> Tensor:
    """uint8 [S, S, 3] blurred like ``cv2.GaussianBlur(crop, (0, 0), sigma)`` (its kernel size for uint8,
    reflected borders), within a level of it."""
    radius = int(round(sigma * 3 * 2 + 1)) // 2  # OpenCV's kernel size for 8-bit images, which is odd
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=crop.device)
    kernel = torch.exp(-(x * x) / (2 * sigma * sigma))
    kernel = kernel / kernel.sum()
    planes = F.pad(crop.permute(2, 0, 1).float()[:, None], (radius, radius, radius, radius), mode="reflect")
    planes = F.conv2d(planes, kernel.view(1, 1, 1, -1))
    planes = F.conv2d(planes, kernel.view(1, 1, -1, 1))
    return planes[:, 0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8)
