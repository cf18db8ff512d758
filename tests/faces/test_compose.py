"""The face compositor: the per-track state of a stream (gate and fades, scene colour, temporal blending)
and what it hands the frame path to paste."""
from __future__ import annotations

import numpy as np
import pytest

from gpen_video.config import FaceSettings
from gpen_video.faces.align import gpen_template
from gpen_video.faces.compose import Composition, FaceCompositor
from gpen_video.types import AlignedFace, Detection, TrackedFace
from tests.helpers.real_media import video_frames

SIZE = 128  # crop side; the face fills the crop (box side 128 >= 100: no small-face softening)
IDENTITY = np.float32([[1, 0, 0], [0, 1, 0]])  # the "frame" is the crop itself


@pytest.fixture(scope="module")
def face_crop() -> np.ndarray:
    """A real face, uint8 [128, 128, 3]: the talking head's face shrunk into the crop."""
    import cv2

    frame = video_frames("talking_head_844.mp4", 1)[0]
    return cv2.resize(np.ascontiguousarray(frame[150:650, 200:700]), (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def face(track_id: int, crop: np.ndarray, *, verified_hits: int = 5, missed_runs: int = 0):
    """(tracked, aligned) for a face that fills ``crop``, frontal, confirmed by ``verified_hits`` hits."""
    landmarks = gpen_template(SIZE).copy()
    box = np.float32([0, 0, SIZE, SIZE])
    tracked = TrackedFace(track_id, Detection(box, 0.95, landmarks), landmarks, hits=verified_hits,
                          missed_runs=missed_runs, verified_hits=verified_hits)
    return tracked, AlignedFace(0, track_id, crop, IDENTITY, box)


def compose(compositor: FaceCompositor, crop: np.ndarray, restored: np.ndarray | list[np.ndarray],
            track_ids=(1,), *, scene_cut: bool = False, image: np.ndarray | None = None, **face_args) -> Composition:
    pairs = [face(track_id, crop, **face_args) for track_id in track_ids]
    restored = restored if isinstance(restored, list) else [restored] * len(pairs)
    return compositor.compose(crop if image is None else image, [t for t, _ in pairs], [a for _, a in pairs],
                              restored, scene_cut)


def settings(**changes) -> FaceSettings:
    base = {"temporal": 0.85, "confirm_frames": 1, "fade_frames": 0, "color": "restored"}
    return FaceSettings(**{**base, **changes})


def shifted(crop: np.ndarray, offset: float) -> np.ndarray:
    """What a flickering restorer gives for a still face: the crop with a tone offset of ``offset`` levels."""
    return np.clip(crop.astype(np.float32) + offset, 0, 255).astype(np.uint8)


def tone(composition: Composition, crop: np.ndarray) -> float:
    """Mean tone offset of the blended face against the input crop, over the crop's centre."""
    centre = (slice(40, 90), slice(40, 90))
    return float((composition.faces[0].blended[centre].astype(np.float32) - crop[centre]).mean())


def test_a_passthrough_restorer_is_pasted_unchanged(face_crop) -> None:
    compositor = FaceCompositor(settings())
    for _ in range(4):
        composition = compose(compositor, face_crop, face_crop.copy())
        (pasted, affine), = composition.crops
        assert np.array_equal(pasted, face_crop) and np.array_equal(affine, IDENTITY)
        assert composition.alphas == [1.0] and composition.masks is None and composition.detail == [1.0]
        assert np.array_equal(composition.faces[0].restored, face_crop)


def test_history_smooths_a_flickering_still_face(face_crop) -> None:
    compositor = FaceCompositor(settings())
    tones = [tone(compose(compositor, face_crop, shifted(face_crop, offset)), face_crop)
             for offset in (8, -8, 8, -8, 8, -8)]
    assert tones[0] == pytest.approx(8, abs=0.5)  # a new track: the restorer's own face
    assert all(abs(t) < 7 for t in tones[1:]), tones  # the history pulls each face towards the last


def test_a_scene_cut_starts_every_track_afresh(face_crop) -> None:
    compositor = FaceCompositor(settings())
    for offset in (8, 8, 8):
        compose(compositor, face_crop, shifted(face_crop, offset))
    after_cut = compose(compositor, face_crop, shifted(face_crop, -8), scene_cut=True)
    assert np.array_equal(after_cut.faces[0].blended, shifted(face_crop, -8))
    held = compose(compositor, face_crop, shifted(face_crop, -8))  # the same frame again, without a cut
    assert tone(held, face_crop) == pytest.approx(-8, abs=0.5)


def test_only_the_frames_tracks_are_retained(face_crop) -> None:
    compositor = FaceCompositor(settings())
    compose(compositor, face_crop, shifted(face_crop, 8), track_ids=(1, 2))
    compose(compositor, face_crop, shifted(face_crop, 8), track_ids=(2,))  # track 1 is gone
    back = compose(compositor, face_crop, [shifted(face_crop, -8)] * 2, track_ids=(1, 2))
    assert np.array_equal(back.faces[0].blended, shifted(face_crop, -8))  # track 1: no history left
    assert tone(Composition([], [], None, None, [back.faces[1]]), face_crop) > 0  # track 2 keeps its own


def test_strength_changes_while_composing_and_survives_a_reset(face_crop) -> None:
    compositor = FaceCompositor(settings())
    compose(compositor, face_crop, shifted(face_crop, 8))
    compositor.set_strength(0.0)
    off = compose(compositor, face_crop, shifted(face_crop, -8))
    assert np.array_equal(off.faces[0].blended, shifted(face_crop, -8))
    compositor.set_strength(0.5)
    compositor.reset()
    assert compositor.strength == 0.5
    with pytest.raises(ValueError):
        compositor.set_strength(1.5)


def test_confirmed_faces_fade_in_and_lost_ones_fade_out(face_crop) -> None:
    compositor = FaceCompositor(settings(fade_frames=3, confirm_frames=2, alpha=0.9))
    alphas = [compose(compositor, face_crop, face_crop, verified_hits=hits).alphas[0] for hits in (1, 2, 3, 4)]
    alphas += [compose(compositor, face_crop, face_crop, verified_hits=4, missed_runs=1).alphas[0] for _ in range(4)]
    assert alphas == pytest.approx([0, 0.3, 0.6, 0.9, 0.6, 0.3, 0, 0])


def test_a_still_picture_pastes_every_face_at_once(face_crop) -> None:
    compositor = FaceCompositor(settings(fade_frames=3, confirm_frames=3), still=True)
    assert compose(compositor, face_crop, face_crop, verified_hits=1).alphas == [1.0]


def test_a_grey_scene_keeps_the_input_colour(face_crop) -> None:
    grey = np.repeat(face_crop.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    tinted = grey.copy()
    tinted[..., 0] = np.clip(tinted[..., 0].astype(int) + 40, 0, 255)
    composition = compose(FaceCompositor(settings(color="auto", temporal=0.0)), grey, tinted)
    restored = composition.faces[0].restored.astype(int)
    assert np.abs(restored[..., 0] - restored[..., 2]).max() == 0  # grey stays grey
    assert np.array_equal(composition.crops[0][0], composition.faces[0].restored)


def test_an_enlarged_output_gets_scaled_affines(face_crop) -> None:
    composition = compose(FaceCompositor(settings(detail_transfer=False), scale=2), face_crop, face_crop)
    _, affine = composition.crops[0]
    assert affine[0, 0] == pytest.approx(0.5) and composition.detail is None


def test_observers_hear_why_a_face_was_held_back(face_crop) -> None:
    """A track outside the selection keeps its pixels "not selected"; the gate's reasons reach the others."""
    from gpen_video.faces.select import TrackSelection

    compositor = FaceCompositor(settings(fade_frames=2, confirm_frames=2), selection=TrackSelection(excluded=frozenset({2})))
    first = compose(compositor, face_crop, face_crop, track_ids=(1, 2), verified_hits=1)
    assert [(face.alpha, face.held) for face in first.faces] == [(0.0, ("unconfirmed",)), (0.0, ("not selected",))]
    compose(compositor, face_crop, face_crop, track_ids=(1, 2), verified_hits=2)
    third = compose(compositor, face_crop, face_crop, track_ids=(1, 2), verified_hits=3)
    assert [(face.alpha, face.held) for face in third.faces] == [(1.0, ()), (0.0, ("not selected",))]
