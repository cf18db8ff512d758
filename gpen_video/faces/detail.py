"""How much of a face's paste is the restorer's change rather than its crop: the detail band.

A face whose crop is smaller than the face (fewer crop pixels than frame pixels) loses everything above
the crop's Nyquist on its way through the restorer, however good the restorer is. The warp round trip
frame -> crop -> frame (the same warps as alignment and paste-back) is the low-pass H that the restored
face passes through, so ``frame - H(source)`` is exactly the band it lost. Pasting
``H(restored) + d * (frame - H(source))`` keeps the restorer's result where the crop can carry it and,
at ``d = 1``, the frame's own detail above: that is ``frame + H(restored - source)``, the restorer's
change added to the frame (``faces.paste``). ``d`` is decided per face from its affine.
"""
from __future__ import annotations

import numpy as np

# Input-frame scale (crop pixels per input pixel) up to which only the restorer's change is pasted: a
# face at least as large as the crop. Above it the band fades out by ZERO_DETAIL_SCALE, where the crop
# holds everything the input has and the restorer may replace the input's finest texture too.
FULL_DETAIL_SCALE = 1.0
ZERO_DETAIL_SCALE = 1.25


def detail_strength(input_scale: float) -> float:
    """The detail band d in [0, 1] for a face aligned at ``input_scale`` (1 up to ``FULL_DETAIL_SCALE``).

    The scale is measured against the *input* frame: an enlarged frame's extra pixels hold no source
    detail, only interpolation. The ramp keeps a face whose size crosses the threshold from popping.
    """
    span = ZERO_DETAIL_SCALE - FULL_DETAIL_SCALE
    return float(np.clip((ZERO_DETAIL_SCALE - input_scale) / span, 0.0, 1.0))
