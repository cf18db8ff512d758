"""live.display: the side-by-side view and the status overlay."""
from __future__ import annotations

import numpy as np

from gpen_video.live.display import compose_view, draw_overlay


def test_overlay_and_side_by_side() -> None:
    rng = np.random.default_rng(0)
    original = rng.integers(0, 255, (240, 320, 3), np.uint8)
    enhanced = rng.integers(0, 255, (240, 320, 3), np.uint8)
    assert compose_view(original, enhanced, False) is enhanced
    both = compose_view(original, enhanced, True)
    assert both.shape == (240, 640, 3)
    assert np.array_equal(both[:, :320], original) and np.array_equal(both[:, 320:], enhanced)
    marked = draw_overlay(enhanced.copy(), ["25.0 fps  40 ms", "faces 1  dropped 0"])
    changed = np.argwhere((marked != enhanced).any(axis=2))
    assert len(changed) > 100
    assert changed[:, 0].max() < 80 and changed[:, 1].max() < 240  # the top-left corner only
