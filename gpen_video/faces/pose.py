"""Head pose from the five landmarks: how far a face is turned away from the camera.

Pure geometry, no model. The nose tip stands in front of the eyes, so when a head turns by yaw θ
its image slides towards one eye along the eye axis while the eye span shrinks:

    offset / half_span = depth · tan θ

with ``offset`` the nose's distance from the eye midpoint along the eye axis, ``half_span`` half the
eye distance, and ``depth`` the nose tip's height above the eye plane in half-span units (about 1 on
an average adult face). Measuring along the eye axis makes the estimate independent of roll and of
the face's size in the picture.
"""
from __future__ import annotations

import math

import numpy as np

# Nose tip's height above the plane of the eyes, in half eye-spans (anthropometric average).
NOSE_DEPTH = 1.0


def estimate_yaw(landmarks: np.ndarray) -> float:
    """Unsigned yaw of a face in degrees: 0 frontal, 90 full profile.

    Args:
        landmarks: float [5, 2] pixel (x, y) of left eye, right eye, nose, left and right mouth corner.

    Returns:
        Degrees in [0, 90). Degenerate landmarks (eyes on one point) count as a full profile.
    """
    points = np.asarray(landmarks, np.float64).reshape(5, 2)
    left_eye, right_eye, nose = points[0], points[1], points[2]
    axis = right_eye - left_eye
    span = float(np.hypot(*axis))
    if span < 1e-6:
        return 89.9
    offset = float(np.dot(nose - (left_eye + right_eye) / 2, axis / span))
    return min(math.degrees(math.atan(abs(offset) / (span / 2) / NOSE_DEPTH)), 89.9)
