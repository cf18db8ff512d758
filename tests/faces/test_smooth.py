import numpy as np
import pytest

from gpen_video.faces.smooth import LandmarkSmoother, OneEuroFilter
from gpen_video.review.bench_measures import jitter, lag

BASE = np.array([[0, 0], [40, 0], [20, 22], [6, 45], [34, 45]], float) + 200


def _track(velocity, sigma, frames=150, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None]
    truth = BASE[None] + t * np.asarray(velocity, float)[None, None]
    return truth, truth + rng.normal(0, sigma, truth.shape)


def _smooth(noisy, strength=1.0):
    s = LandmarkSmoother(strength)
    return np.stack([s.update(7, lm, t) for t, lm in enumerate(noisy)])


@pytest.mark.parametrize("velocity", [(0.0, 0.0), (1.0, 0.5), (3.0, -1.5), (8.0, 0.0)])
@pytest.mark.parametrize("sigma", [0.5, 1.5])
def test_cuts_jitter_without_lag(velocity, sigma):
    truth, noisy = _track(velocity, sigma)
    out = _smooth(noisy)
    assert out.dtype == np.float32 and out.shape == noisy.shape
    warm = slice(20, None)  # after the filter has learned the velocity
    cut = 1 - jitter(out[warm] - truth[warm]) / jitter(noisy[warm] - truth[warm])
    assert cut >= 0.5, cut
    if velocity != (0.0, 0.0):
        assert abs(lag(out[warm], truth[warm])) <= 1.0


def test_responsive_to_a_sudden_start():
    rng = np.random.default_rng(3)
    t = np.arange(120)
    shift = np.clip(t - 60, 0, None) * 6.0  # still, then 6 px/frame
    truth = BASE[None] + np.stack([shift, np.zeros_like(shift)], -1)[:, None, :]
    out = _smooth(truth + rng.normal(0, 1.0, truth.shape))
    err = np.linalg.norm((out - truth).mean(1), axis=-1)
    assert err[60:].max() < 6.0  # never more than a frame behind, even while accelerating
    assert err[90:].max() < 1.5


def test_strength_zero_is_identity_and_strength_orders_smoothing():
    truth, noisy = _track((0.0, 0.0), 1.0)
    np.testing.assert_array_equal(_smooth(noisy, 0.0), noisy.astype(np.float32))
    j = [jitter(_smooth(noisy, s)[20:] - truth[20:]) for s in (0.5, 1.0, 2.0)]
    assert j[0] > j[1] > j[2]
    with pytest.raises(ValueError):
        LandmarkSmoother(-1)


def test_tracks_are_independent_and_droppable():
    s = LandmarkSmoother(1.0)
    a = s.update(1, BASE, 0)
    b = s.update(2, BASE + 100, 0)
    np.testing.assert_allclose(a, BASE)
    np.testing.assert_allclose(b, BASE + 100)
    moved = s.update(1, BASE + 3, 1)
    assert np.all(moved < BASE + 3)  # smoothed toward its own past, not track 2's
    s.drop(1)
    np.testing.assert_allclose(s.update(1, BASE + 50, 2), BASE + 50)  # fresh start
    assert sorted(s.tracks()) == [1, 2]


def test_one_euro_filter_basics():
    f = OneEuroFilter()
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(f(x, 0), x)
    np.testing.assert_array_equal(f(x + 5, 0), x)  # no time step: unchanged
    y = f(x + 5, 1)
    assert np.all((y > x) & (y < x + 5))
    f.reset()
    np.testing.assert_array_equal(f(x + 5, 9), x + 5)
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0)
