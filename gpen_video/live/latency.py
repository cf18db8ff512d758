"""Live mode's latency: capture-to-output time of every frame, the output rate and their summary."""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np


def latency_summary(latencies: Sequence[float]) -> dict[str, float]:
    """Median, 95th percentile, mean and maximum of latencies (any unit; live mode uses seconds).

    Raises:
        ValueError: no samples.
    """
    values = np.asarray(latencies, np.float64)
    if values.size == 0:
        raise ValueError("latency_summary needs at least one sample")
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": float(p50), "p95": float(p95), "mean": float(values.mean()), "max": float(values.max())}


def trend(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope dy/dx of paired samples; 0.0 when ``x`` does not vary.

    For live mode, ``x`` is the time each frame was shown and ``y`` its latency (both seconds): a
    slope near 0 means latency is steady, a positive one that frames are queueing up.
    """
    xs = np.asarray(x, np.float64)
    ys = np.asarray(y, np.float64)
    if xs.shape != ys.shape or xs.size < 2:
        raise ValueError("trend needs two or more paired samples")
    dx = xs - xs.mean()
    spread = float((dx**2).sum())
    return 0.0 if spread == 0 else float((dx * (ys - ys.mean())).sum() / spread)


class LatencyTracker:
    """Capture-to-output latency and output rate of a live run.

    Units: every time is in seconds on one clock (live mode uses ``time.monotonic()``), so latencies
    are seconds, ``fps`` is frames per second and the trend is seconds of latency per second of run.
    Keeps the last ``max_samples`` frames (the default is about 2 h at 25 fps), so a run of any length
    uses bounded memory; ``count`` still counts every frame.
    """

    def __init__(self, window: float = 1.0, max_samples: int = 200_000) -> None:
        self.window = window  # seconds over which ``fps`` is measured
        self.captured: deque[float] = deque(maxlen=max_samples)
        self.shown: deque[float] = deque(maxlen=max_samples)
        self._recent: deque[float] = deque()
        self.count = 0

    def record(self, captured: float, shown: float) -> None:
        """One frame: when it was captured and when it was shown (seconds)."""
        self.captured.append(captured)
        self.shown.append(shown)
        self._recent.append(shown)
        while self._recent and shown - self._recent[0] > self.window:
            self._recent.popleft()
        self.count += 1

    @property
    def latest(self) -> float:
        """Latency of the last frame in seconds, 0.0 before the first."""
        return self.shown[-1] - self.captured[-1] if self.shown else 0.0

    @property
    def fps(self) -> float:
        """Frames shown per second over the last ``window`` seconds."""
        if len(self._recent) < 2:
            return 0.0
        return (len(self._recent) - 1) / max(self._recent[-1] - self._recent[0], 1e-9)

    def latencies(self) -> np.ndarray:
        """float64 [N] latency per kept frame in seconds, in order."""
        return np.asarray(self.shown, np.float64) - np.asarray(self.captured, np.float64)

    def summary(self) -> dict[str, float | int | None]:
        """Rate and latency statistics of the kept frames; ``{"frames": 0}`` before the first.

        Keys: ``frames`` (every recorded frame), ``fps`` (None when all were shown at once),
        ``p50``/``p95``/``mean``/``max`` latency in seconds and, from 4 frames on, ``p95_first_half``
        and ``p95_second_half`` (seconds) and ``trend`` (latency growth, seconds per second).
        """
        n = len(self.shown)
        if n == 0:
            return {"frames": 0}
        lat = self.latencies()
        span = self.shown[-1] - self.shown[0]
        out: dict[str, float | int | None] = {"frames": self.count, "fps": (n - 1) / span if span > 0 else None}
        out.update(latency_summary(lat))
        if n >= 4:
            half = n // 2
            out["p95_first_half"] = latency_summary(lat[:half])["p95"]
            out["p95_second_half"] = latency_summary(lat[half:])["p95"]
            out["trend"] = trend(list(self.shown), lat)
        return out
