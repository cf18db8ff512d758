"""Decoded slices of the shared media for the face tests (cached per process)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

from tests.conftest import DATA


@lru_cache(maxsize=8)
def video_frames(name: str, count: int, start: int = 0) -> tuple[np.ndarray, ...]:
    """Frames [start, start + count) of a shared video as uint8 [H, W, 3] RGB."""
    out = []
    with av.open(str(Path(DATA) / name)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start + count:
                break
            if i >= start:
                out.append(frame.to_ndarray(format="rgb24"))
    return tuple(out)


@lru_cache(maxsize=1)
def solvay() -> np.ndarray:
    """The Solvay photograph as uint8 [H, W, 3] RGB (alpha dropped)."""
    bgr = cv2.imread(str(Path(DATA) / "Solvay_conference_1927.png"), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[..., ::-1])
