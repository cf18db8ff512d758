"""review.mark: a thin outline on the paste weight's 50 % contour, and the track ids beside it."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from gpen_video.review.mark import HALF, mark_frame, outline_width


def blob(height: int, width: int, centre: tuple[int, int], radius: float) -> np.ndarray:
    """uint8 [H, W] weight: 255 in the middle, falling smoothly to 0 at ``2 radius`` from ``centre``."""
    ys, xs = np.mgrid[:height, :width]
    distance = np.hypot(xs - centre[0], ys - centre[1]) / radius
    return np.rint(255 * np.clip(2.0 - distance, 0, 1)).astype(np.uint8)


def distance_to_contour(weight: np.ndarray) -> np.ndarray:
    """float [H, W]: each pixel's distance in pixels to the nearest edge pixel of ``weight >= HALF``."""
    inside = (weight >= HALF).astype(np.uint8)
    edge = inside - cv2.erode(inside, np.ones((3, 3), np.uint8))
    return cv2.distanceTransform((edge == 0).astype(np.uint8), cv2.DIST_L2, 3)


def test_the_outline_follows_the_half_contour_and_the_label_sits_beside_it():
    image = np.full((720, 1280, 3), 90, np.uint8)
    weight = np.maximum(blob(720, 1280, (400, 360), 80), blob(720, 1280, (900, 300), 60))
    out = mark_frame(image, weight, [(3, (400.0, 360.0)), (7, (900.0, 300.0)), (9, (100.0, 100.0))])
    drawn = np.any(out != image, axis=2)
    near = distance_to_contour(weight)
    # the stroke runs along the contour (within a pixel of every edge pixel), and nothing is drawn far from it
    assert cv2.dilate(drawn.astype(np.uint8), np.ones((3, 3), np.uint8))[near == 0].all()
    assert near[drawn].max() < 40
    assert (drawn & (near > outline_width(720) + 1)).sum() > 50  # the labels: text beside the outline
    assert not drawn[weight == 0].all()
    # the middle of each region, far from the outline, keeps its pixels
    assert not drawn[360, 400] and not drawn[300, 900]
    # a face outside every region (weight below 50 %) is not labelled: only two labels above two regions
    labels = drawn & (near > outline_width(720) + 1)
    assert not labels[:, :200].any()


def test_nothing_above_half_weight_draws_nothing():
    image = np.zeros((100, 100, 3), np.uint8)
    weight = np.full((100, 100), HALF - 1, np.uint8)
    assert np.array_equal(mark_frame(image, weight, [(1, (50.0, 50.0))]), image)
    with pytest.raises(ValueError):
        mark_frame(image, weight[:50], [])
