"""A restorer that returns the crops unchanged: the pipeline without GPEN, for debugging and tests."""
from __future__ import annotations

from typing import overload

import numpy as np
from torch import Tensor

from .crops import check_crops
from .eager import EagerQueue


class PassthroughRestorer(EagerQueue):
    """A ``protocols.Restorer`` whose output is a copy of its input (the "none" restorer).

    ``device`` computes nothing here; it is where the engine puts the stages beside the restorer (the
    detector, the frame path): the run's device for the command, "cpu" unless a benchmark wants a GPU.
    """

    backend = "none"

    def __init__(self, size: int = 512, batch_size: int = 4, device: str = "cpu") -> None:
        super().__init__()
        self.size = int(size)
        self.batch_size = int(batch_size)
        self.device = device

    @overload
    def restore(self, crops: np.ndarray) -> np.ndarray: ...

    @overload
    def restore(self, crops: Tensor) -> Tensor: ...

    def restore(self, crops: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Return a copy of ``crops`` (uint8 [N, S, S, 3] array, or any tensor)."""
        if isinstance(crops, Tensor):
            return crops.clone()
        return check_crops(crops, self.size).copy()
