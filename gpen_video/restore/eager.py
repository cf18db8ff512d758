"""Queued results for restorers that compute during ``submit``: they wait in submission order until collected."""
from __future__ import annotations

from collections import deque

import numpy as np


class EagerQueue:
    """``submit`` / ``collect`` / ``flush`` of a ``protocols.Restorer`` over the subclass's ``restore``.

    Each ``submit`` restores at once (the caller's thread does the work, so a model that releases the
    GIL lets the other pipeline stages run meanwhile); ``collect`` and ``flush`` hand the results back.
    """

    def __init__(self) -> None:
        self._done: deque[tuple[object, np.ndarray]] = deque()

    def restore(self, crops: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def submit(self, crops: np.ndarray, tag: object = None) -> None:
        """Restore uint8 [N, S, S, 3] ``crops`` now; the result waits with ``tag``."""
        self._done.append((tag, self.restore(crops)))

    def collect(self, wait: bool = False) -> list[tuple[object, np.ndarray]]:
        """Every result so far (all of them are finished), in submission order."""
        return self.flush()

    def flush(self) -> list[tuple[object, np.ndarray]]:
        out = list(self._done)
        self._done.clear()
        return out
