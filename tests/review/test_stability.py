"""The warping error of the face regions (Lai et al. 2018): its ratio output / input is about 1 for a
restorer that adds no flicker and well above 1 for one that does, on a real clip with motion."""
from __future__ import annotations

from fractions import Fraction

import pytest

from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.review.metrics import QualityObserver
from gpen_video.review.stability import WarpErrorMeter
from gpen_video.types import Frame
from tests.helpers.fakes import FlickerRestorer, SharpenRestorer
from tests.helpers.moving_face import observe
from tests.helpers.real_media import video_frames

CLIP, FRAMES = "lp_d9_3s.mp4", 40  # glasses, a head turn and blinks in the first 1.3 s


def run_ratio(restorer) -> dict:
    """The warping-error summary of the clip's first frames through the engine, temporal blending off
    (it would hide the restorer's flicker this test is about)."""
    settings = Settings()
    settings.faces.temporal = 0.0
    engine = Engine(settings, restorer=restorer)
    quality = QualityObserver()
    frames = [Frame(i, i, Fraction(1, 30), image) for i, image in enumerate(video_frames(CLIP, FRAMES))]
    for _ in engine.stream(frames, observer=quality):
        pass
    return quality.summary()


def test_a_stable_restorer_adds_no_warping_error_and_a_flickering_one_does() -> None:
    stable, flickering = run_ratio(SharpenRestorer()), run_ratio(FlickerRestorer())
    assert stable["warp_error_shots"][0]["pairs"] >= FRAMES - 6  # the faces of (almost) every frame pair
    assert stable["warp_error_input"] == pytest.approx(flickering["warp_error_input"])  # the same input
    # Sharpening doubles the input's finest band, its codec noise with it: a little above 1.
    assert 0.9 <= stable["warp_error_ratio"] <= 1.4, stable
    assert flickering["warp_error_ratio"] >= 3.0, flickering


# -- the meter on synthetic frames -----------------------------------------------------------------

def test_an_output_that_only_follows_the_input_has_ratio_one() -> None:
    meter = WarpErrorMeter()
    for index in range(6):
        observe(meter, index, shift=2 * index, added=0)
    summary = meter.summary()
    assert summary["warp_error_ratio"] == pytest.approx(1.0) and summary["warp_error_shots"][0]["pairs"] == 5


def test_a_flickering_face_raises_the_ratio_and_each_shot_is_reported() -> None:
    meter = WarpErrorMeter()
    for index in range(4):
        observe(meter, index, shift=2 * index, added=0)
    for index in range(4, 8):  # a new shot whose face flickers by +-6 levels
        observe(meter, index, shift=2 * index, added=6.0 * (-1) ** index, scene_cut=index == 4)
    first, second = meter.summary()["warp_error_shots"]
    assert (first["first_frame"], first["pairs"], second["first_frame"], second["pairs"]) == (0, 3, 4, 3)
    assert first["ratio"] == pytest.approx(1.0)
    assert second["output"] - second["input"] == pytest.approx(12.0**2, rel=0.15)  # |+6 - (-6)|^2
    overall = meter.summary()
    assert overall["warp_error_output"] == pytest.approx((first["output"] + second["output"]) / 2)


def test_frames_without_pasted_faces_and_enlarged_outputs() -> None:
    meter = WarpErrorMeter()
    assert meter.summary()["warp_error_ratio"] is None
    observe(meter, 0, shift=0, added=0, scale=2)
    observe(meter, 1, shift=0, added=0, faces=False)  # nothing pasted: no pair with frame 0 or 2
    observe(meter, 2, shift=2, added=5, scale=2)
    observe(meter, 3, shift=4, added=-5, scale=2)
    summary = meter.summary()
    assert summary["warp_error_shots"][0]["pairs"] == 1
    assert summary["warp_error_output"] - summary["warp_error_input"] == pytest.approx(100.0, rel=0.15)
