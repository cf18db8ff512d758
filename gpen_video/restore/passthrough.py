"""A restorer that returns the crops unchanged: the pipeline without GPEN, for debugging and tests."""
from __future__ import annotations

from collections import deque
from typing import overload

import numpy as np
from torch import Tensor

from .crops import check_crops


class PassthroughRestorer:
    """A ``protocols.Restorer`` whose output is a copy of its input (the "none" restorer), on the CPU."""

    def __init__(self, size: int = 512, batch_size: int = 4) -> None:
        self.size = int(size)
        self.batch_size = int(batch_size)
        self.device = "cpu"
        self._done: deque[tuple[object, np.ndarray]] = deque()

    @overload
    def restore(self, crops: np.ndarray) -> np.ndarray: ...

    @overload
    def restore(self, crops: Tensor) -> Tensor: ...

    def restore(self, crops: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Return a copy of ``crops`` (uint8 [N, S, S, 3] array, or any tensor)."""
        if isinstance(crops, Tensor):
            return crops.clone()
        return check_crops(crops, self.size).copy()

    def submit(self, crops: np.ndarray, tag: object = None) -> None:
        self._done.append((tag, check_crops(crops, self.size).copy()))

    def collect(self, wait: bool = False) -> list[tuple[object, np.ndarray]]:
        return self.flush()

    def flush(self) -> list[tuple[object, np.ndarray]]:
        out = list(self._done)
        self._done.clear()
        return out
