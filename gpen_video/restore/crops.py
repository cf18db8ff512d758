"""The crop batches every restorer takes: uint8 [N, S, S, 3] RGB, checked once at the door."""
from __future__ import annotations

import numpy as np

from ..errors import InputError


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
