import numpy as np
import pytest

from gpen_video.metrics import flicker, id_switches, jitter, lag, psnr


def test_psnr_known_error_and_mask():
    a = np.zeros((10, 10, 3), np.uint8)
    b = a.copy()
    b[:5] = 10  # MSE over the top half is 100
    assert psnr(a, a) == float("inf")
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 50))
    top = np.zeros((10, 10), bool)
    top[:5] = True
    assert psnr(a, b, top) == pytest.approx(10 * np.log10(255**2 / 100))
    assert psnr(a, b, ~top) == float("inf")
    with pytest.raises(ValueError):
        psnr(a, b, np.zeros((10, 10), bool))


def test_flicker_is_mean_abs_frame_difference():
    frames = [np.full((4, 4, 3), v, np.uint8) for v in (0, 10, 0, 10)]
    assert flicker(frames) == pytest.approx(10.0)
    assert flicker([frames[0]] * 3) == 0.0
    mask = np.zeros((4, 4))
    mask[0, 0] = 1
    assert flicker(frames, mask) == pytest.approx(10.0)


def test_jitter_ignores_constant_offset_and_sees_noise():
    t = np.arange(50, dtype=float)
    assert jitter(np.stack([t, t], 1) * 0 + 3.0) == 0.0
    alternating = np.where(t % 2 == 0, 1.0, -1.0)
    assert jitter(alternating) == pytest.approx(2.0, rel=0.01)


def test_lag_in_frames():
    t = np.arange(40, dtype=float)
    truth = np.stack([2 * t, t], 1)[:, None, :]  # [T, 1, 2]
    assert lag(truth, truth) == pytest.approx(0.0)
    delayed = np.concatenate([truth[:2], truth[:-2]])
    assert lag(delayed[5:], truth[5:]) == pytest.approx(2.0)
    ahead = truth + np.array([1.0, 0.5])  # half a frame ahead
    assert lag(ahead, truth) == pytest.approx(-0.5)


def test_id_switches_counts_changes_per_identity():
    assert id_switches([[3], [3], [3]]) == 0
    assert id_switches([[3], [4], [4], [3]]) == 2
    assert id_switches([{"a": 1, "b": 2}, {"b": 2}, {"a": 1, "b": 5}, {"a": 1}]) == 1
    assert id_switches([]) == 0
