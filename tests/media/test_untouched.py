"""media.untouched: the decoded input's planes wherever no face changed a pixel."""
from __future__ import annotations

import numpy as np
import pytest

from gpen_video.media.untouched import keep_untouched


def planes(value: int, height: int = 8, width: int = 8) -> np.ndarray:
    return np.full((height * 3 // 2, width), value, np.uint8)


def test_luma_is_kept_per_pixel_and_chroma_per_unchanged_2x2_block():
    changed = np.zeros((8, 8), np.uint8)
    changed[2, 3] = 1  # one changed pixel: luma there, and the chroma sample of block (1, 1)
    out = keep_untouched(planes(200), planes(16), changed)
    luma = out[:8]
    assert luma[2, 3] == 200 and (luma == 16).sum() == 63
    u = out.reshape(-1)[64:80].reshape(4, 4)
    v = out.reshape(-1)[80:96].reshape(4, 4)
    for chroma in (u, v):
        assert chroma[1, 1] == 200 and (chroma == 16).sum() == 15


def test_nothing_changed_gives_the_decoded_planes_and_everything_changed_the_converted():
    decoded, converted = planes(16), planes(200)
    assert np.array_equal(keep_untouched(converted, decoded, np.zeros((8, 8), np.uint8)), decoded)
    assert np.array_equal(keep_untouched(converted, decoded, np.full((8, 8), 255, np.uint8)), converted)


def test_planes_must_fit_the_weight():
    with pytest.raises(ValueError):
        keep_untouched(planes(1), planes(1, 10), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError):
        keep_untouched(planes(1), planes(1), np.zeros((6, 8), np.uint8))
