"""Per-track temporal blending of what the restorer changed, in aligned (crop) coordinates.

A restorer run frame by frame invents slightly different texture and tone each time, which shows as
flicker. Only that invention is smoothed: the blender works on the restorer's *residual* (restored
crop − input crop), so the output always follows the input's real motion. Each track keeps its
previous blended residual; it is warped onto the current crop with dense optical flow between the
previous and current *input* crops (what the camera saw), and mixed in where

- the pixel lies in the face region (a feathered ellipse from the landmarks); the background passes
  through as restored,
- the flow is reliable (forward–backward consistent), and
- the warped previous input matches the current one at full resolution, so that a moved edge, an
  opening mouth or a blink uses the current residual alone. A global tone change of the input is
  not motion and does not stop blending.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

# Most weight ever given to the previous residual (at strength 1).
_MAX_WEIGHT = 0.95
# Input difference (0-255 units, after a 1-px blur) at which the weight has dropped to 1/e.
_TOLERANCE = 8.0
# Side (px) at which optical flow and the face region are computed, then scaled up.
_FLOW_SIZE = 128
# Forward–backward flow error (px at _FLOW_SIZE) beyond which a pixel's flow is not trusted.
_FB_LIMIT = 0.75


@dataclass
class _TrackState:
    grey: np.ndarray  # float32 [S, S] grey input crop
    residual: np.ndarray  # float32 [S, S, 3] blended residual
    small: np.ndarray  # uint8 [F, F] grey input crop at the flow size


class TemporalBlender:
    """Motion-compensated, face-only recursive blending of each track's restorer residual.

    Args:
        strength: in [0, 1]; 0 turns blending off, 1 gives the previous residual up to 95 % weight.
    """

    def __init__(self, strength: float = 0.7):
        self._tracks: dict[int, _TrackState] = {}
        self._flow: cv2.DISOpticalFlow | None = None
        self.strength = 0.0
        self.set_strength(strength)

    def set_strength(self, strength: float) -> None:
        """Change the strength, also while another thread blends (live mode's controls).

        Turning blending back on starts every track afresh: its history stopped when blending did.
        """
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"temporal strength must be in [0, 1], got {strength}")
        if strength and self._flow is None:
            self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        if strength and not self.strength:
            self._tracks.clear()
        self.strength = float(strength)

    def blend(
        self, track_id: int, source: np.ndarray, restored: np.ndarray, landmarks: np.ndarray, magnification: float = 1.0
    ) -> np.ndarray:
        """Blend a track's new restored crop with its history.

        Args:
            source: uint8 [S, S, 3] the aligned input crop the restorer was given.
            restored: uint8 [S, S, 3] the restorer's output for it.
            landmarks: float [5, 2] the face's landmarks in crop pixels (eyes, nose, mouth corners).
            magnification: crop pixels per frame pixel. Motion is judged in frame pixels: a small
                face enlarged into the crop has no detail finer than this, only compression noise.

        Returns:
            uint8 [S, S, 3]; ``restored`` itself when blending is off or the track is new.
        """
        strength = self.strength  # read once: the controls may change it meanwhile
        if strength == 0.0:
            return restored
        src = source.astype(np.float32)
        residual = restored.astype(np.float32) - src
        grey_u8 = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)
        grey, small = grey_u8.astype(np.float32), _small(grey_u8)
        prev = self._tracks.get(track_id)
        if prev is None or prev.grey.shape != grey.shape:
            self._tracks[track_id] = _TrackState(grey, residual, small)
            return restored
        size = grey.shape[0]
        pixel = max(1.0, float(magnification))  # one frame pixel, in crop pixels
        map_x, map_y, reliable = self._warp_maps(small, prev.small, size, pixel)
        warped_grey = cv2.remap(prev.grey, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped_res = cv2.remap(prev.residual, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        weight = still_weight(grey, warped_grey, strength * _MAX_WEIGHT, pixel)
        weight *= reliable
        weight *= face_region(landmarks, size)
        blended = residual + cv2.merge([weight] * 3) * (warped_res - residual)
        self._tracks[track_id] = _TrackState(grey, blended, small)
        return np.clip(np.rint(src + blended), 0, 255).astype(np.uint8)

    def reset(self, track_id: int | None = None) -> None:
        """Forget one track's history (it restarted), or every track's (scene cut) when None."""
        if track_id is None:
            self._tracks.clear()
        else:
            self._tracks.pop(track_id, None)

    def retain(self, alive_track_ids: Iterable[int]) -> None:
        """Drop the history of every track not in ``alive_track_ids``."""
        keep = set(alive_track_ids)
        for tid in [t for t in self._tracks if t not in keep]:
            del self._tracks[tid]

    def _warp_maps(
        self, cur: np.ndarray, prev: np.ndarray, size: int, pixel: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each current crop pixel was in the previous crop (float32 [S, S] x and y maps), and
        float32 [S, S] 1 where that flow passes the forward–backward check, 0 where it does not.
        ``pixel`` is one frame pixel in crop pixels: flow errors below half of one are not failures."""
        back = self._flow.calc(cur, prev, None)  # current -> previous
        ahead = self._flow.calc(prev, cur, None)  # previous -> current
        small = cur.shape[0]
        grid_x, grid_y = _grid(small)
        returned = cv2.remap(ahead, grid_x + back[..., 0], grid_y + back[..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        error = np.linalg.norm(back + returned, axis=2)
        scale = size / small
        limit = max(_FB_LIMIT, 0.5 * pixel / scale)
        reliable = (error < limit + 0.05 * np.linalg.norm(back, axis=2)).astype(np.float32)
        flow = cv2.resize(back, (size, size), interpolation=cv2.INTER_LINEAR) * np.float32(scale)
        full_x, full_y = _grid(size)
        # An unreliable pixel also taints its neighbours at full size: erode before scaling up.
        reliable = cv2.erode(reliable, np.ones((3, 3), np.uint8))
        reliable = cv2.resize(reliable, (size, size), interpolation=cv2.INTER_LINEAR)
        return full_x + flow[..., 0], full_y + flow[..., 1], reliable


def _small(grey: np.ndarray) -> np.ndarray:
    """uint8 [F, F] copy of a grey crop at the flow size."""
    if grey.shape[0] == _FLOW_SIZE:
        return grey
    return cv2.resize(grey, (_FLOW_SIZE, _FLOW_SIZE), interpolation=cv2.INTER_AREA)


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x and y coordinates float32 [size, size] (shared, read-only)."""
    grid_x, grid_y = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    grid_x.setflags(write=False)
    grid_y.setflags(write=False)
    return grid_x, grid_y


def still_weight(cur: np.ndarray, warped_prev: np.ndarray, max_weight: float, pixel: float = 1.0) -> np.ndarray:
    """Per-pixel weight float32 [S, S] in [0, max_weight] for the history, from the grey input crops
    float32 [S, S] (current, and previous warped onto it).

    Judged at the source's own resolution (``pixel``: one source pixel in crop pixels, >= 1), with
    only a 1-px blur against sensor noise, so that a one-pixel shift of an edge the flow missed
    counts as motion while an enlarged face's interpolation and compression noise do not. The
    difference's mean is removed first: a global tone change is not motion.
    """
    size = cur.shape[0]
    diff = cur - warped_prev
    side = max(16, int(round(size / pixel)))
    if side < size:
        diff = cv2.resize(diff, (side, side), interpolation=cv2.INTER_AREA)
    diff -= np.float32(cv2.mean(diff)[0])  # cv2's mean: ~10x faster than numpy's
    structural = cv2.GaussianBlur(diff, (0, 0), sigmaX=1.0) * np.float32(1.0 / _TOLERANCE)
    weight = cv2.exp(-cv2.multiply(structural, structural)) * np.float32(max_weight)
    if side < size:
        weight = cv2.resize(weight, (size, size), interpolation=cv2.INTER_LINEAR)
    return weight


def face_region(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Feathered face region float32 [S, S] in [0, 1] of a crop, from its five landmarks (crop pixels).

    An ellipse centred between the eyes and the mouth, turned with the eye line, reaching past the
    cheeks, chin and brows: generous, since outside it nothing is smoothed.
    """
    points = np.asarray(landmarks, np.float64).reshape(5, 2)
    eyes, mouth = points[:2].mean(axis=0), points[3:].mean(axis=0)
    eye_line = points[1] - points[0]
    eye_distance = float(np.linalg.norm(eye_line))
    scale = _FLOW_SIZE / size
    centre = (eyes + mouth) / 2 * scale
    axes = (1.25 * eye_distance * scale, 1.5 * float(np.linalg.norm(mouth - eyes)) * scale)
    angle = float(np.degrees(np.arctan2(eye_line[1], eye_line[0])))
    mask = np.zeros((_FLOW_SIZE, _FLOW_SIZE), np.float32)
    polygon = cv2.ellipse2Poly(
        (int(round(centre[0])), int(round(centre[1]))), (int(round(axes[0])), int(round(axes[1]))), int(round(angle)), 0, 360, 10
    )
    cv2.fillConvexPoly(mask, polygon, 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=_FLOW_SIZE / 40)
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
