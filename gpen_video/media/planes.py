"""The visible bytes of a decoded or to-be-encoded picture, plane by plane, without the rows' padding."""
from __future__ import annotations

import math

import av
import numpy as np


def visible_planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """uint8 [plane height, visible bytes per row] per plane of ``frame``, in the format's plane order.

    FFmpeg pads each row to an aligned ``line_size``; the padding holds whatever the allocator left, so
    only the visible bytes say what the picture is (bytes per sample follow the format: 2 for 10-bit).
    """
    out = []
    for index, plane in enumerate(frame.planes):
        sample_bytes = sum(math.ceil(c.bits / 8) for c in frame.format.components if c.plane == index)
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        out.append(rows[:, : plane.width * sample_bytes])
    return out
