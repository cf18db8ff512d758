"""Monochrome stays monochrome: grey, sepia and infrared scenes are found, and their restored faces
keep the input's colour; colour footage is left to the restorer."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import cv2
import numpy as np
import pytest

from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.faces.detect import RetinaFaceOnnx
from gpen_video.faces.monochrome import SceneColour, is_monochrome, keep_luminance
from gpen_video.restore import GpenRestorer, PassthroughRestorer
from gpen_video.types import Detection, Frame, PastedFace
from tests.helpers.fakes import tiny_gpen
from tests.helpers.real_media import solvay, video_frames


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def _sepia(image: np.ndarray) -> np.ndarray:
    """A toned print: warm highlights, chroma following the luma along one curve."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)[..., None] / 255
    return np.clip(255 * np.concatenate([g**0.9, 0.85 * g, 0.6 * g**1.2], axis=2), 0, 255).astype(np.uint8)


def _through_yuv420(image: np.ndarray) -> np.ndarray:
    """What a video codec keeps: chroma at half resolution."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420)


def _chroma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(int)


@pytest.mark.parametrize("name", ["crowd", "head"])
def test_grey_sepia_and_infrared_frames_are_monochrome_colour_frames_are_not(name: str) -> None:
    frame = {"crowd": video_frames("crowd_1080p.mp4", 1)[0], "head": video_frames("talking_head_844.mp4", 1)[0]}[name]
    assert not is_monochrome(frame)
    assert not is_monochrome((frame * 0.15).astype(np.uint8))  # dim colour is still colour
    assert not is_monochrome((0.7 * _grey(frame) + 0.3 * frame).astype(np.uint8))  # washed-out colour too
    assert is_monochrome(_through_yuv420(_grey(frame)))
    assert is_monochrome(_through_yuv420(_sepia(frame)))
    overlay = _through_yuv420(_grey(frame))
    overlay[10:40, 10:200] = (255, 0, 0)  # a red timestamp on infrared footage
    assert is_monochrome(overlay)
    assert is_monochrome(solvay())


def test_keep_luminance_keeps_the_source_chroma_and_the_restored_luma() -> None:
    rng = np.random.default_rng(0)
    source = _sepia(rng.integers(40, 200, (64, 64, 3), dtype=np.uint8))
    restored = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # wildly coloured
    kept = keep_luminance(restored, source)
    def luma(image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int)

    shifted = source + (luma(restored) - luma(source))[..., None]
    inside = ((shifted >= 0) & (shifted <= 255)).all(axis=2)  # where no channel clips
    assert inside.mean() > 0.5
    assert np.abs(_chroma(kept) - _chroma(source))[inside].max() <= 1
    assert np.abs(luma(kept) - luma(restored))[inside].max() <= 1
    grey = _grey(source)
    np.testing.assert_array_equal(np.ptp(keep_luminance(restored, grey).astype(int), axis=2), 0)  # exactly grey


def test_scene_colour_modes_and_per_scene_decision() -> None:
    colour = video_frames("talking_head_844.mp4", 1)[0]
    grey = _grey(colour)
    auto = SceneColour("auto")
    assert [auto.keeps_input_colour(im) for im in (grey, grey, colour, grey)] == [True, True, False, False]
    assert auto.keeps_input_colour(grey, scene_cut=True)  # a new scene is judged afresh
    assert SceneColour("input").keeps_input_colour(colour) and not SceneColour("restored").keeps_input_colour(grey)
    with pytest.raises(ValueError):
        SceneColour("sepia")


class Replay:
    def __init__(self, found: list[Detection]) -> None:
        self.found = found

    def detect(self, images):
        return [list(self.found) for _ in images]


class Keep:
    """Frame observer that keeps the pasted faces."""

    def __init__(self) -> None:
        self.faces: list[PastedFace] = []

    def observe(self, result, faces) -> None:
        self.faces += faces


class Tinting(PassthroughRestorer):
    """A restorer that only paints the face warm: what GPEN does to a grey face, exaggerated."""

    def submit(self, crops, tag=None):
        super().submit(np.clip(crops.astype(int) + (40, 0, -40), 0, 255).astype(np.uint8), tag)


@pytest.fixture(scope="module")
def tiny_gpen_restorer():
    """A random 64 px GPEN: it invents colour, which is what this step must undo."""
    return GpenRestorer(tiny_gpen(), device="cpu", batch_size=8, precision="fp32", warmup=False)


@pytest.fixture(scope="module")
def solvay_faces() -> list[Detection]:
    image = solvay()
    return RetinaFaceOnnx(det_size=max(image.shape[:2]), score_threshold=0.5).detect([image])[0]


def _enhance(image: np.ndarray, found: list[Detection], restorer, color: str) -> tuple[np.ndarray, Keep]:
    settings = Settings()
    settings = replace(settings, faces=replace(settings.faces, color=color))
    observer = Keep()
    engine = Engine(settings, restorer=restorer, detector=Replay(found))
    (result,) = list(engine.stream([Frame(0, 0, Fraction(1, 1), image)], observer=observer, still=True))
    return result.enhanced, observer


def _boxes(image: np.ndarray, found: list[Detection]) -> list[np.ndarray]:
    return [image[int(d.box[1]) : int(d.box[3]), int(d.box[0]) : int(d.box[2])] for d in found]


def test_solvay_every_face_restored_and_still_grey(solvay_faces) -> None:
    image, found = solvay(), solvay_faces
    assert sum(d.score >= 0.9 for d in found) == 29
    out, seen = _enhance(image, found, Tinting(size=128), "auto")
    assert len(seen.faces) == 29 and all(face.alpha == 1.0 for face in seen.faces)  # no face lost to the gate
    for before, after in zip(_boxes(image, found), _boxes(out, found)):
        assert np.abs(after.astype(int) - before).mean() > 3  # restored...
        assert np.abs(_chroma(after) - _chroma(before)).max() <= 2  # ...in grey
    coloured, _ = _enhance(image, found, Tinting(size=128), "restored")
    assert min(np.abs(_chroma(box) - 128).max() for box in _boxes(coloured, found)) > 10


def test_a_tiny_gpen_paints_no_colour_on_grey_faces_and_leaves_colour_alone(tiny_gpen_restorer, solvay_faces) -> None:
    image, found = solvay(), solvay_faces[:4]
    grey, _ = _enhance(image, found, tiny_gpen_restorer, "auto")
    coloured, _ = _enhance(image, found, tiny_gpen_restorer, "restored")
    assert max(np.abs(_chroma(box) - 128).max() for box in _boxes(grey, found)) <= 2
    assert max(np.abs(_chroma(box) - 128).max() for box in _boxes(coloured, found)) > 20  # what it invents
    # Colour input: this step changes nothing.
    head = np.ascontiguousarray(video_frames("talking_head_844.mp4", 1)[0][100:600, 150:650])
    (face,) = RetinaFaceOnnx(det_size=500, score_threshold=0.5).detect([head])[0]
    auto, _ = _enhance(head, [face], tiny_gpen_restorer, "auto")
    restored, _ = _enhance(head, [face], tiny_gpen_restorer, "restored")
    np.testing.assert_array_equal(auto, restored)
    assert np.abs(auto.astype(int) - head).mean() > 1
