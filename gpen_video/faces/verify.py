"""A second look at new faces: the detector must find each again on its aligned, enlarged crop.

The detector sees a whole frame shrunk to ``det_size``, where a small head is a few dozen pixels and
the back of a bald head or a hand can score like a face (0.94-0.96 on the crowd clip). Aligned to
GPEN's template at ``crop`` pixels and set on a blank canvas, a real face is the one thing in view, at
a size the detector sees well: real faces score 0.59-1.0 on their first hits (the repo's clips and
Solvay), the bald head 0.05-0.48. Without the surroundings the detector cannot lean on a body
below a head either. Only the confirmation window is checked (``faces.analyzer``), so the cost is
one small detector call per frame for the few faces that are new.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..protocols import FaceDetector
from .align import align_face


class CropVerifier:
    """A ``FaceVerifier`` that re-runs a detector on each face's aligned crop.

    Args:
        detector: the detector to ask again (the run's own; its score threshold applies too).
        min_score: the re-detection score a face needs, in (0, 1].
        crop: side in pixels of the aligned face, set in the middle of a black canvas of twice the side.
    """

    def __init__(self, detector: FaceDetector, *, min_score: float = 0.7, crop: int = 128) -> None:
        if not 0.0 < min_score <= 1.0 or crop < 32:
            raise ValueError(f"need 0 < min_score <= 1 and crop >= 32, got {min_score}, {crop}")
        self.detector, self.min_score, self.crop = detector, float(min_score), int(crop)

    def canvases(self, image: np.ndarray, landmarks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each face aligned to the template at ``crop`` pixels, centred on a black uint8 [2c, 2c, 3] canvas."""
        pad = self.crop // 2
        return [cv2.copyMakeBorder(align_face(image, points, self.crop)[0], pad, pad, pad, pad,
                                   cv2.BORDER_CONSTANT, value=0) for points in landmarks]

    def scores(self, image: np.ndarray, landmarks: Sequence[np.ndarray]) -> list[float]:
        """Best re-detection score near the canvas centre for each face, 0 where none is found."""
        if not landmarks:
            return []
        centre, reach = float(self.crop) - 0.5, self.crop / 4  # pixel centres at integers
        out = []
        for found in self.detector.detect(self.canvases(image, landmarks)):
            near = [d.score for d in found
                    if max(abs((d.box[0] + d.box[2]) / 2 - centre), abs((d.box[1] + d.box[3]) / 2 - centre)) < reach]
            out.append(max(near, default=0.0))
        return out

    def verify(self, image: np.ndarray, landmarks: Sequence[np.ndarray]) -> list[bool]:
        return [score >= self.min_score for score in self.scores(image, landmarks)]
