"""Quality metrics shared by the run reports, live mode, the tests and bench/.

The functions are pure and take numpy arrays; images are uint8 or float arrays in [0, 255].
``QualityObserver`` is the engine's optional frame observer that gathers the report's temporal and
fidelity measures over a run, in constant memory.
Live latency is measured in ``live.latency``; the tracking measures only the benchmarks and
their tests need (jitter, lag, identity switches) are in ``review.bench_measures``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..faces.align import gpen_template
from ..faces.temporal import face_region
from .stability import WarpErrorMeter
from ..types import FrameResult, PastedFace


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB for 8-bit images.

    Args:
        a, b: arrays of the same shape [H, W] or [H, W, C], values in [0, 255].
        mask: optional bool or float [H, W] weights; only weighted pixels count.

    Returns:
        PSNR in dB; ``inf`` when the (masked) images are identical.
    """
    err = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2
    if mask is None:
        mse = float(err.mean())
    else:
        w = np.asarray(mask, np.float64)
        if err.ndim == 3:
            w = np.broadcast_to(w[..., None], err.shape)
        total = float(w.sum())
        if total <= 0:
            raise ValueError("psnr: the mask selects no pixels")
        mse = float((err * w).sum() / total)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def flicker(frames: Sequence[np.ndarray], mask: np.ndarray | None = None) -> float:
    """Mean absolute frame-to-frame difference over a sequence (0-255 units).

    Args:
        frames: T >= 2 arrays of the same shape [H, W] or [H, W, C].
        mask: optional bool or float [H, W] weights for the region of interest.
    """
    if len(frames) < 2:
        raise ValueError("flicker needs at least two frames")
    stack = np.stack([np.asarray(f, np.float32) for f in frames])
    diff = np.abs(np.diff(stack, axis=0))
    if mask is None:
        return float(diff.mean())
    w = np.asarray(mask, np.float32)
    if diff.ndim == 4:
        w = w[..., None]
    w = np.broadcast_to(w, diff.shape[1:])
    return float((diff * w).sum() / (w.sum() * diff.shape[0]))


@dataclass
class RunningMean:
    """A mean over a stream of values, in constant memory."""

    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    @property
    def value(self) -> float | None:
        return self.total / self.count if self.count else None


@lru_cache(maxsize=4)
def _face_pixels(size: int) -> np.ndarray:
    """bool [ceil(S/4), ceil(S/4)]: the template's face region in a crop of side S, every 4th pixel."""
    return face_region(gpen_template(size), size)[::4, ::4] > 0.5


def _reduction(before: float | None, after: float | None) -> float | None:
    return 1.0 - after / before if before and after is not None else None


class QualityObserver:
    """Temporal steadiness and fidelity of a run, measured frame by frame (a ``protocols.FrameObserver``).

    Attributes:
        flicker_restored, flicker_blended: the restorer's flicker, before and after temporal
            blending: mean absolute frame-to-frame change (0-255) of what it added to a track's
            aligned face (output crop − input crop). The input's own change is real motion, which
            blending must keep, so it is left out. Measured over the template's face region, the
            only part blending touches.
        landmark_step_detected, landmark_step_smoothed: mean landmark movement (pixels) of a track
            between consecutive frames, as detected and as smoothed.
        face_psnr: PSNR (dB, capped at 100) of each output face box against the input; the
            fidelity of the pipeline itself with the pass-through restorer.
        blend_psnr: PSNR (dB, capped at 100) of each aligned face after blending against the same
            face before it: what temporal blending cost in fidelity (100 when it changed nothing).
        warp_error: the warping error (Lai et al. 2018) of the output and of the input over the
            pasted faces, per shot and overall (``stability.WarpErrorMeter``).
    """

    def __init__(self) -> None:
        self.flicker_restored = RunningMean()
        self.flicker_blended = RunningMean()
        self.landmark_step_detected = RunningMean()
        self.landmark_step_smoothed = RunningMean()
        self.face_psnr = RunningMean()
        self.blend_psnr = RunningMean()
        self.warp_error = WarpErrorMeter()
        # Per track, from the previous frame only: a track absent from a frame starts over.
        self._crops: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._landmarks: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def observe(self, result: FrameResult, faces: Sequence[PastedFace]) -> None:
        self._landmark_steps(faces)
        self._flicker(faces, result.scene_cut)
        self._face_psnr(result)
        self.warp_error.observe(result, faces)

    def summary(self) -> dict[str, object]:
        """The report's ``metrics``: the means, how much smoothing and blending cut motion and flicker, and
        the warping error of output and input with their ratio (``stability.WarpErrorMeter.summary``)."""
        flicker_before, flicker_after = self.flicker_restored.value, self.flicker_blended.value
        steps_detected, steps_smoothed = self.landmark_step_detected.value, self.landmark_step_smoothed.value
        return {
            "temporal_flicker_restored": flicker_before,
            "temporal_flicker_blended": flicker_after,
            "temporal_flicker_reduction": _reduction(flicker_before, flicker_after),
            "temporal_blend_psnr": self.blend_psnr.value,
            "landmark_step_detected": steps_detected,
            "landmark_step_smoothed": steps_smoothed,
            "landmark_jitter_reduction": _reduction(steps_detected, steps_smoothed),
            "face_psnr_vs_input": self.face_psnr.value,
            **self.warp_error.summary(),
        }

    def _landmark_steps(self, faces: Sequence[PastedFace]) -> None:
        current = {face.tracked.track_id: (face.tracked.detection.landmarks, face.tracked.landmarks) for face in faces}
        for track_id, (detected, smoothed) in current.items():
            if track_id in self._landmarks:
                prev_detected, prev_smoothed = self._landmarks[track_id]
                self.landmark_step_detected.add(float(np.linalg.norm(detected - prev_detected, axis=1).mean()))
                self.landmark_step_smoothed.add(float(np.linalg.norm(smoothed - prev_smoothed, axis=1).mean()))
        self._landmarks = current

    def _flicker(self, faces: Sequence[PastedFace], scene_cut: bool) -> None:
        previous = {} if scene_cut else self._crops
        current = {}
        for face in faces:
            track_id = face.aligned.track_id
            region = _face_pixels(face.aligned.crop.shape[0])
            small_input = face.aligned.crop[::4, ::4][region].astype(np.float32)
            small_restored = face.restored[::4, ::4][region].astype(np.float32) - small_input
            small_blended = face.blended[::4, ::4][region].astype(np.float32) - small_input
            if track_id in previous and previous[track_id][0].shape == small_restored.shape:
                before, after = previous[track_id]
                self.flicker_restored.add(float(np.abs(small_restored - before).mean()))
                self.flicker_blended.add(float(np.abs(small_blended - after).mean()))
            current[track_id] = (small_restored, small_blended)
            self.blend_psnr.add(min(psnr(small_restored, small_blended), 100.0))
        self._crops = current

    def _face_psnr(self, result: FrameResult) -> None:
        """Every other pixel of each face box: it runs on every frame."""
        original, enhanced = result.frame.image, result.enhanced
        height, width = original.shape[:2]
        scale = enhanced.shape[0] // height  # an upscaled output is compared after shrinking it back
        for face in result.faces:
            x0, y0, x1, y1 = np.asarray(face.box).round().astype(int)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                region = enhanced[y0 * scale:y1 * scale, x0 * scale:x1 * scale]
                if scale > 1:
                    region = cv2.resize(region, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
                self.face_psnr.add(min(psnr(original[y0:y1:2, x0:x1:2], region[::2, ::2]), 100.0))
