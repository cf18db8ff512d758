"""The crop batches every restorer takes (uint8 [N, S, S, 3] RGB, checked once at the door) and their
conversion to and from GPEN's input and output (float [N, 3, S, S] in [-1, 1]), on any torch device."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError, NonFiniteOutput


def check_crops(crops: np.ndarray, size: int) -> np.ndarray:
    """``crops`` as a C-contiguous array after checking it is uint8 [N, size, size, 3].

    Raises:
        InputError: another type, dtype or shape.
    """
    if not isinstance(crops, np.ndarray):
        raise InputError(f"expected uint8 crops [N, {size}, {size}, 3], got {type(crops).__name__}")
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
        raise InputError(f"expected uint8 crops [N, {size}, {size}, 3], got ndarray {crops.dtype} {list(crops.shape)}")
    return np.ascontiguousarray(crops)


def check_crop_tensor(crops: Tensor, size: int) -> bool:
    """Whether ``crops`` is a float tensor [N, 3, size, size] (GPEN's input) rather than a uint8 tensor
    [N, size, size, 3] (crops as pictures).

    Raises:
        InputError: any other dtype or shape.
    """
    if crops.is_floating_point():
        if crops.ndim != 4 or tuple(crops.shape[1:]) != (3, size, size):
            raise InputError(f"expected float crops [N, 3, {size}, {size}], got {list(crops.shape)}")
        return True
    if crops.dtype != torch.uint8 or crops.ndim != 4 or tuple(crops.shape[1:]) != (size, size, 3):
        raise InputError(f"expected uint8 crops [N, {size}, {size}, 3], got tensor {crops.dtype} {list(crops.shape)}")
    return False


def to_model_input(crops: Tensor) -> Tensor:
    """uint8 [N, S, S, 3] RGB -> float32 [N, 3, S, S] in [-1, 1], channels_last (no copy of layout)."""
    return crops.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def all_finite(images: Tensor) -> Tensor:
    """A 0-d bool tensor on ``images``' device: True when no value is NaN or infinite (no host sync).

    One float32 sum, which is NaN or infinite when any term is (8 times cheaper than ``isfinite().all()``
    on the CPU); a face model's finite outputs are nowhere near float32's overflow.
    """
    return images.sum(dtype=torch.float32).isfinite()


def check_finite(images: Tensor, weights: str) -> Tensor:
    """``images`` (a model's output), after checking that no value is NaN or infinite: converted to
    uint8 such values would be black or white faces, with no error.

    Raises:
        NonFiniteOutput: naming ``weights``.
    """
    if not bool(all_finite(images)):
        raise NonFiniteOutput(weights)
    return images


def to_uint8(images: Tensor) -> Tensor:
    """float [N, 3, S, S] in [-1, 1] -> uint8 [N, S, S, 3] RGB (clamped, rounded), contiguous."""
    out = images.float().add(1.0).mul_(127.5).clamp_(0.0, 255.0).round_()
    return out.permute(0, 2, 3, 1).to(torch.uint8).contiguous()
