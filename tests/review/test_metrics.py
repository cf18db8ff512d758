from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from gpen_video.review.bench_measures import id_switches, jitter, lag
from gpen_video.review.metrics import QualityObserver, flicker, psnr
from gpen_video.types import AlignedFace, Detection, Frame, FrameResult, PastedFace, TrackedFace


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


def _pasted(track_id: int, detected: float, smoothed: float, restored: int, blended: int) -> PastedFace:
    """A face whose landmarks sit at (detected|smoothed, 0) and whose crops are flat grey levels."""
    landmarks = np.zeros((5, 2), np.float32)
    box = np.float32([0, 0, 8, 8])
    tracked = TrackedFace(track_id, Detection(box, 0.9, landmarks + [detected, 0]), landmarks + [smoothed, 0])
    crop = np.zeros((8, 8, 3), np.uint8)
    aligned = AlignedFace(0, track_id, crop, np.eye(2, 3, dtype=np.float32), box)
    return PastedFace(tracked, aligned, crop + np.uint8(restored), crop + np.uint8(blended))


def _result(faces: list[PastedFace], enhanced_shift: int = 0, scene_cut: bool = False) -> FrameResult:
    image = np.full((10, 10, 3), 100, np.uint8)
    frame = Frame(0, 0, Fraction(1, 25), image)
    return FrameResult(frame, image + np.uint8(enhanced_shift), [f.aligned for f in faces], scene_cut)


def test_flicker_counts_only_what_the_restorer_added():
    quality = QualityObserver()
    for level in (0, 40, 80):  # the input changes (real motion); the restorer adds a steady +5
        face = _pasted(1, 0, 0, 5, 5)
        moved = PastedFace(face.tracked, replace(face.aligned, crop=face.aligned.crop + np.uint8(level)),
                           face.restored + np.uint8(level), face.blended + np.uint8(level))
        quality.observe(_result([moved]), [moved])
    assert quality.summary()["temporal_flicker_restored"] == 0


def test_quality_observer_steps_flicker_and_psnr():
    quality = QualityObserver()
    empty = quality.summary()
    assert empty.pop("warp_error_shots") == [] and set(empty.values()) == {None}
    first = [_pasted(1, 0, 0, 10, 10)]
    quality.observe(_result(first), first)
    second = [_pasted(1, 4, 1, 30, 15)]
    quality.observe(_result(second, enhanced_shift=10), second)
    summary = quality.summary()
    assert summary["landmark_step_detected"] == 4 and summary["landmark_step_smoothed"] == 1
    assert summary["landmark_jitter_reduction"] == pytest.approx(0.75)
    assert summary["temporal_flicker_restored"] == 20 and summary["temporal_flicker_blended"] == 5
    assert summary["temporal_flicker_reduction"] == pytest.approx(0.75)
    assert summary["face_psnr_vs_input"] == pytest.approx((100.0 + 10 * np.log10(255**2 / 100)) / 2)
    assert summary["temporal_blend_psnr"] == pytest.approx((100.0 + 10 * np.log10(255**2 / 15**2)) / 2)  # 30 blended to 15
    # a scene cut restarts flicker, a frame without the track restarts its landmark steps
    quality.observe(_result(second, scene_cut=True), second)
    quality.observe(_result([]), [])
    quality.observe(_result(first), first)
    assert quality.flicker_restored.count == 1 and quality.landmark_step_detected.count == 2
