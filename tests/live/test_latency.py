"""live.latency: capture-to-output latency, rate and trend."""
from __future__ import annotations

import pytest

from gpen_video.live.latency import LatencyTracker


def test_latency_tracker_summary_and_trend() -> None:
    steady, growing = LatencyTracker(), LatencyTracker()
    for k in range(100):
        t = k * 0.04
        steady.record(t, t + 0.1 + 0.01 * (k % 3))
        growing.record(t, t + 0.1 + 0.5 * t)  # a queue filling up: latency grows 0.5 s per second
    s, g = steady.summary(), growing.summary()
    assert s["frames"] == 100 and s["fps"] == pytest.approx(25, rel=0.01)
    assert s["p50"] == pytest.approx(0.11, abs=0.011) and s["p95"] <= 0.12 + 1e-9
    assert abs(s["trend"]) < 0.01 and g["trend"] == pytest.approx(1 / 3, rel=0.01)  # latency 0.5 t, shown at 1.5 t
    assert g["p95_second_half"] > g["p95_first_half"] + 0.5
