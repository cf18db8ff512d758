"""Adaptive landmark smoothing: a predictive One-Euro filter per track.

The classic One-Euro filter (Casiez et al., CHI 2012) is a first-order low-pass whose cutoff rises
with speed: cutoff = min_cutoff + beta * speed. A plain low-pass always lags a moving face, so here
the filter runs on top of a constant-velocity predictor (alpha-beta style): each step predicts
x + velocity, then corrects toward the measurement with the One-Euro gain. "Speed" is the smoothed
innovation (measurement minus prediction): steady motion is predicted and needs no extra gain, while
a surprise (a start, a stop, a turn) opens the cutoff at once. Time ``t`` is in frames.
"""
from __future__ import annotations

import math

import numpy as np


def _gain(cutoff: float, dt: float) -> float:
    """Exponential-smoothing gain of a first-order low-pass with ``cutoff`` (cycles/frame) over ``dt`` frames."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Predictive One-Euro filter on an array of points (pure numpy, one instance per signal).

    Args:
        min_cutoff: cutoff (cycles/frame) when nothing surprising happens; lower = smoother.
        beta: how fast the cutoff opens with the innovation speed (in ``scale`` units per frame).
        d_cutoff: cutoff of the velocity estimate.
        e_cutoff: cutoff of the innovation estimate that drives the adaptation.
    """

    def __init__(self, min_cutoff: float = 0.04, beta: float = 5.0, d_cutoff: float = 0.03, e_cutoff: float = 0.1):
        if min(min_cutoff, d_cutoff, e_cutoff) <= 0 or beta < 0:
            raise ValueError("cutoffs must be positive and beta non-negative")
        self.min_cutoff, self.beta, self.d_cutoff, self.e_cutoff = min_cutoff, beta, d_cutoff, e_cutoff
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._v: np.ndarray | None = None
        self._e: np.ndarray | None = None
        self._t = 0.0

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        """Filter one sample.

        Args:
            x: float [..., D] points (e.g. [5, 2] landmarks).
            t: sample time in frames, increasing.
            scale: size that normalises the adaptation speed (e.g. the face size in pixels), > 0.

        Returns:
            float64 array shaped like ``x``.
        """
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._v = x.copy(), np.zeros_like(x)
            self._e = np.zeros(x.shape[-1])
            self._t = float(t)
            return x.copy()
        dt = float(t) - self._t
        if dt <= 0:
            return self._x.copy()
        pred = self._x + self._v * dt
        innov = x - pred
        # Common-mode innovation over all points: detector noise averages out, real motion does not.
        self._e += _gain(self.e_cutoff, dt) * (innov.reshape(-1, x.shape[-1]).mean(0) - self._e)
        speed = float(np.linalg.norm(self._e)) / (max(scale, 1e-6) * dt)
        new = pred + _gain(self.min_cutoff + self.beta * speed, dt) * innov
        self._v += _gain(self.d_cutoff, dt) * ((new - self._x) / dt - self._v)
        self._x, self._t = new, float(t)
        return new.copy()


def face_scale(landmarks: np.ndarray) -> float:
    """Face size in pixels from five landmarks: distance from the eyes' midpoint to the mouth's midpoint."""
    lm = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(lm[3:5].mean(0) - lm[0:2].mean(0)))


class LandmarkSmoother:
    """One predictive One-Euro filter per track on its five landmarks.

    Args:
        strength: 0 turns smoothing off; 1 is the default; larger is smoother (lower base cutoff and
            slower opening), smaller is more responsive.
    """

    # Tuned on synthetic tracks (tests/test_faces_smooth.py): ~70-80 % less jitter, < 0.5 frame lag.
    BASE_MIN_CUTOFF = 0.04
    BASE_BETA = 5.0

    def __init__(self, strength: float = 1.0):
        if strength < 0:
            raise ValueError(f"smoothing strength must be >= 0, got {strength}")
        self.strength = float(strength)
        self._filters: dict[int, OneEuroFilter] = {}

    def update(self, track_id: int, landmarks: np.ndarray, t: float) -> np.ndarray:
        """Smooth one track's landmarks float [5, 2] at frame ``t``; returns float32 [5, 2]."""
        if self.strength == 0:
            return np.asarray(landmarks, np.float32).copy()
        filt = self._filters.get(track_id)
        if filt is None:
            filt = self._filters[track_id] = OneEuroFilter(
                min_cutoff=self.BASE_MIN_CUTOFF / self.strength, beta=self.BASE_BETA / self.strength
            )
        return filt(landmarks, t, scale=face_scale(landmarks)).astype(np.float32)

    def drop(self, track_id: int) -> None:
        """Forget a track (it ended)."""
        self._filters.pop(track_id, None)

    def reset(self) -> None:
        """Forget every track (scene cut)."""
        self._filters.clear()

    def tracks(self) -> list[int]:
        return list(self._filters)
