"""Marks that show a viewer at once what is not original: a thin outline along the 50 % contour of each
enhanced region's paste weight, and the track ids of the faces in it.

The outline follows the weight the faces were pasted with (``FrameResult.weight``), not a box, so it
hugs exactly the pixels that are mostly restored.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

HALF = 128  # the 50 % level of a uint8 paste weight
COLOUR = (255, 0, 255)  # RGB magenta: rare in faces and scenes, seen on any background
SHADOW = (0, 0, 0)  # drawn under the label so that it reads on light and dark pixels alike
LABEL_GAP = 4  # pixels between a region's outline and its label


def outline_width(height: int) -> int:
    """Stroke width in pixels for a frame ``height`` pixels high: 1 up to 720 lines, 2 at 1080, 4 at 2160."""
    return max(1, round(height / 540))


def label_scale(height: int) -> float:
    """OpenCV font scale of the track labels for a frame ``height`` pixels high."""
    return max(0.4, height / 1350)


def mark_frame(image: np.ndarray, weight: np.ndarray, faces: Sequence[tuple[int, tuple[float, float]]]) -> np.ndarray:
    """A copy of ``image`` with each enhanced region outlined and labelled.

    Args:
        image: uint8 [H, W, 3] RGB, the enhanced frame.
        weight: uint8 [H, W], the paste weight (0-255) the frame's faces were pasted with.
        faces: (track id, centre (x, y) in ``image`` pixels) of the frame's faces; a region is labelled
            with the ids of the faces whose centre lies inside its outline ("#3", "#3 #7").

    Returns:
        New uint8 [H, W, 3]: the outline is drawn on the region's edge pixels (``outline_width``), the label
        centred just above the region (below it at the top of the frame).
    """
    if weight.shape != image.shape[:2]:
        raise ValueError(f"weight {weight.shape} does not match the image {image.shape[:2]}")
    out = image.copy()
    contours, _ = cv2.findContours((weight >= HALF).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    height = image.shape[0]
    cv2.drawContours(out, contours, -1, COLOUR, outline_width(height), lineType=cv2.LINE_8)
    for contour in contours:
        ids = [track for track, centre in faces
               if cv2.pointPolygonTest(contour, (float(centre[0]), float(centre[1])), False) >= 0]
        if ids:
            _label(out, contour, " ".join(f"#{track}" for track in sorted(ids)))
    return out


def _label(image: np.ndarray, contour: np.ndarray, text: str) -> None:
    """Write ``text`` centred just above the top of ``contour`` (below its bottom when there is no room
    above), in place."""
    height = image.shape[0]
    scale, thickness = label_scale(height), outline_width(height)
    (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    points = contour.reshape(-1, 2)
    top_x, top_y = points[points[:, 1].argmin()]
    bottom = top_y - LABEL_GAP - baseline
    if bottom - text_h < 0:
        top_x, low_y = points[points[:, 1].argmax()]
        bottom = low_y + LABEL_GAP + text_h
    origin = (int(min(max(top_x - text_w // 2, 0), max(image.shape[1] - text_w, 0))), int(bottom))
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, SHADOW, thickness + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, COLOUR, thickness, cv2.LINE_AA)
