"""Tracking measures that only the benchmarks and their tests use: landmark jitter, smoothing lag,
identity switches (CLEAR-MOT). A run never computes them, so nothing on its path imports this module.
"""
from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np


def jitter(points_seq: np.ndarray) -> float:
    """Frame-to-frame jitter: std of the first temporal difference of a [T, ...] sequence.

    Apply it to a residual (estimate - truth) so that true motion does not count.
    """
    seq = np.asarray(points_seq, np.float64)
    if seq.shape[0] < 2:
        raise ValueError("jitter needs at least two samples")
    return float(np.diff(seq, axis=0).std())


def lag(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Mean lag in frames of ``estimate`` behind ``truth`` (both [T, ..., D] with D coordinates).

    The error of each sample, projected on the direction of the true motion, is divided by the
    true speed: a value of 1.0 means the estimate sits where the truth was one frame earlier.
    Negative values mean the estimate runs ahead. Samples where the truth does not move are ignored.
    """
    est = np.asarray(estimate, np.float64)
    tru = np.asarray(truth, np.float64)
    d = est.shape[-1]
    est = est.reshape(est.shape[0], -1, d)
    tru = tru.reshape(tru.shape[0], -1, d)
    vel = np.diff(tru, axis=0)  # [T-1, P, D], motion that ends at samples 1..T-1
    speed2 = (vel**2).sum(-1)
    moving = speed2 > 1e-12
    if not moving.any():
        raise ValueError("lag needs a moving truth")
    behind = -((est[1:] - tru[1:]) * vel).sum(-1)  # projection times speed
    return float((behind[moving] / speed2[moving]).mean())


def id_switches(track_ids_per_frame: Sequence[Mapping[Hashable, int] | Sequence[int]]) -> int:
    """Count identity switches (CLEAR-MOT "IDSW").

    Args:
        track_ids_per_frame: per frame, which track id each true identity got, as a mapping
            {identity: track_id}; a plain sequence means identity = position in it (e.g. ``[[7], [7], [9]]``
            for a single face). Identities missing from a frame are simply not seen there.

    Returns:
        How many times an identity was given a track id different from the one it had when last seen.
    """
    last: dict[Hashable, int] = {}
    switches = 0
    for frame in track_ids_per_frame:
        items = frame.items() if isinstance(frame, Mapping) else enumerate(frame)
        for ident, tid in items:
            if ident in last and last[ident] != tid:
                switches += 1
            last[ident] = tid
    return switches
