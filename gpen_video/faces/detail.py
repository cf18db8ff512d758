"""Fine detail of faces larger than the crop's scale: the source's band that the aligned crop cannot hold.

A face whose crop is smaller than the face (fewer crop pixels than frame pixels) loses everything above
the crop's Nyquist on its way through the restorer, however good the restorer is. The split used here
is complementary: the warp round trip frame -> crop -> frame (the same warps as alignment and
paste-back) is the low-pass H that the restored face passes through, so ``source - H(source)`` is
exactly the band it lost. Pasting ``H(restored) + (source - H(source))`` keeps the restorer's result
where the crop can carry it and the source's own detail above, measured per face by its affine.
"""
from __future__ import annotations

import cv2
import numpy as np

from .align import warp_to_crop

# Input-frame scale (crop pixels per input pixel) below which the source's detail is added in full;
# it fades out towards scale 1, where the crop holds everything the input has.
FULL_DETAIL_SCALE = 0.9


def detail_strength(input_scale: float) -> float:
    """How much of the source's fine band to keep, in [0, 1], for a face aligned at ``input_scale``.

    The scale is measured against the *input* frame: an enlarged frame's extra pixels hold no source
    detail, only interpolation. The short ramp keeps a face whose size crosses the threshold from popping.
    """
    return float(np.clip((1.0 - input_scale) / (1.0 - FULL_DETAIL_SCALE), 0.0, 1.0))


def lost_detail(source: np.ndarray, affine: np.ndarray, roi_affine: np.ndarray, roi: tuple[int, int, int, int],
                size: int) -> np.ndarray:
    """``source - H(source)`` over a face's region: float32 [y1-y0, x1-x0, 3].

    Args:
        source: uint8 [H, W, 3] the frame the face is pasted into.
        affine: float [2, 3] frame -> crop for that frame.
        roi_affine: the same map for region coordinates (origin at the region's corner), as pasting uses.
        roi: (x0, y0, x1, y1) the face's region, exclusive end.
        size: crop side S.
    """
    x0, y0, x1, y1 = roi
    crop = warp_to_crop(source, np.asarray(affine, np.float32), size)  # the crop alignment made
    back = cv2.warpAffine(crop, roi_affine, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    return cv2.subtract(source[y0:y1, x0:x1], back, dtype=cv2.CV_32F)
