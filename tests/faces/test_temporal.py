import numpy as np
import pytest

from gpen_video.faces.align import align_face, gpen_template
from gpen_video.faces.detect import RetinaFaceOnnx
from gpen_video.faces.temporal import TemporalBlender, face_region
from gpen_video.review.metrics import flicker
from tests.helpers.real_media import video_frames

S = 256
INNER = np.zeros((S, S), bool)
INNER[S // 8 : -S // 8, S // 8 : -S // 8] = True
LANDMARKS = gpen_template(S)
FACE = face_region(LANDMARKS, S) > 0.5


@pytest.fixture(scope="module")
def talking_crops():
    """Aligned crops of 20 talking-head frames: real expression changes (mouth, eyes)."""
    frames = video_frames("talking_head_844.mp4", 20)
    dets = RetinaFaceOnnx(det_size=320).detect(list(frames))
    return [align_face(f, d[0].landmarks, S)[0] for f, d in zip(frames, dets)]


def _noisy_restorer(seed=0):
    rng = np.random.default_rng(seed)

    def restore(crop):  # per-frame brightness shift plus texture noise, like an unstable restorer
        noise = rng.normal(0, 6, crop.shape) + rng.uniform(-8, 8)
        return np.clip(crop + noise, 0, 255).astype(np.uint8)

    return restore


def _run(seq, strength):
    restore, blender = _noisy_restorer(), TemporalBlender(strength)
    restored = [restore(c) for c in seq]
    blended = [blender.blend(3, c, r) for c, r in zip(seq, restored)]
    return restored, blended


def _error(frames, truth):
    return float(np.mean([np.abs(f.astype(float) - g)[INNER].mean() for f, g in zip(frames[1:], truth[1:])]))


def test_blending_cuts_flicker_on_a_still_face(talking_crops):
    still = [talking_crops[0]] * 20
    restored, blended = _run(still, 0.7)
    cut = 1 - flicker(blended, FACE) / flicker(restored, FACE)
    assert cut >= 0.5, cut


def test_no_ghosting_on_expression_and_motion(talking_crops):
    moving = [np.roll(talking_crops[0], 3 * k, axis=1) for k in range(20)]  # 3 px/frame pan
    for truth in (talking_crops, moving):
        restored, blended = _run(truth, 0.7)
        assert _error(blended, truth) <= 1.1 * _error(restored, truth)
    # Without restorer noise, real motion passes through almost untouched.
    blender = TemporalBlender(1.0)
    clean = [blender.blend(0, c, c) for c in moving]
    assert _error(clean, moving) < 3.0


def test_strength_zero_reset_and_retain(talking_crops):
    a, b = talking_crops[0], talking_crops[10]
    off = TemporalBlender(0.0)
    off.blend(1, a, a)
    assert off.blend(1, b, b) is b
    blender = TemporalBlender(1.0)
    first = blender.blend(1, a, a)
    np.testing.assert_array_equal(first, a)  # a track starts unblended
    noisy = _noisy_restorer(5)(a)
    assert not np.array_equal(blender.blend(1, a, noisy), noisy)
    blender.reset(1)
    np.testing.assert_array_equal(blender.blend(1, a, noisy), noisy)
    blender.blend(2, a, a)
    blender.retain([2])
    np.testing.assert_array_equal(blender.blend(1, b, b), b)  # track 1 was dropped
    blender.reset()
    np.testing.assert_array_equal(blender.blend(2, b, b), b)
    with pytest.raises(ValueError):
        TemporalBlender(1.5)


def _tone_only_restorer(seed=0):
    rng = np.random.default_rng(seed)
    return lambda crop: np.clip(crop + rng.uniform(-8, 8), 0, 255).astype(np.uint8)


def test_a_faces_tone_keeps_blending_where_its_background_changes_on_its_own(talking_crops):
    # The right third of the crop shows a new background every frame (a crowd passing behind, which
    # no flow follows); the restorer's tone flickers over the whole crop.
    rng = np.random.default_rng(1)
    strip = slice(2 * S // 3, S)
    crops = []
    for _ in range(30):
        crop = talking_crops[0].copy()
        blocks = rng.integers(0, 255, (S // 8, S // 8, 1), np.uint8).repeat(8, 0).repeat(8, 1).repeat(3, 2)
        crop[:, strip] = blocks[:, strip]
        crops.append(crop)
    restore, blender = _tone_only_restorer(), TemporalBlender(0.85)
    restored = [restore(c) for c in crops]
    blended = [blender.blend(0, c, r) for c, r in zip(crops, restored)]

    def tone_error(outputs):  # rms over frames 10-29 of the mean error over the moving strip
        means = [float(np.mean(o[:, strip].astype(float) - c[:, strip])) for o, c in zip(outputs[10:], crops[10:])]
        return float(np.sqrt(np.mean(np.square(means))))

    assert tone_error(blended) <= 0.5 * tone_error(restored), (tone_error(blended), tone_error(restored))


def test_another_person_in_a_track_starts_its_tone_afresh(talking_crops):
    # A track that jumps to another person (a tracker swap): the restorer's tone there is not the first face's.
    frame = video_frames("lp_d3_3s.mp4", 1)[0]
    other = align_face(frame, RetinaFaceOnnx(det_size=320).detect([frame])[0][0].landmarks, S)[0]
    blender = TemporalBlender(1.0)
    for _ in range(10):
        blender.blend(0, talking_crops[0], np.clip(talking_crops[0] - 10.0, 0, 255).astype(np.uint8))
    out = blender.blend(0, other, np.clip(other + 10.0, 0, 255).astype(np.uint8))
    tone = float(np.mean(out[INNER].astype(float) - other[INNER]))
    assert tone >= 0.0, tone  # more the new face's +10 than the old one's -10
