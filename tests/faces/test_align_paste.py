import numpy as np
import pytest

from gpen_video.faces.align import affine_scale, align_face, estimate_similarity, gpen_template, invert_affine
from gpen_video.faces.paste import paste_faces, soft_mask, soften_small_face
from gpen_video.review.metrics import psnr


def _apply(m, pts):
    return pts @ np.asarray(m, np.float64)[:, :2].T + np.asarray(m, np.float64)[:, 2]


def _similarity(angle, scale, tx, ty):
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


def test_template_scales_linearly():
    t512 = gpen_template(512)
    assert t512.dtype == np.float32 and t512.shape == (5, 2)
    np.testing.assert_allclose(t512[0], [202.0407, 242.8840], atol=1e-4)
    np.testing.assert_allclose(gpen_template(256), t512 / 2, atol=1e-4)
    np.testing.assert_allclose(gpen_template(1024), t512 * 2, atol=1e-3)
    with pytest.raises(ValueError):
        gpen_template(0)


def test_similarity_recovers_transform_and_inverse_roundtrips():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 500, (5, 2))
    true = _similarity(0.4, 1.7, 12.0, -30.0)
    m = estimate_similarity(src, _apply(true, src))
    assert m.dtype == np.float32 and m.shape == (2, 3)
    np.testing.assert_allclose(m, true, atol=1e-3)
    inv = invert_affine(m)
    np.testing.assert_allclose(_apply(inv, _apply(m, src)), src, atol=1e-2)
    assert affine_scale(m) == pytest.approx(1.7, rel=1e-4)
    # Noisy points: still the least-squares fit, close to the truth.
    noisy = _apply(true, src) + rng.normal(0, 0.5, (5, 2))
    np.testing.assert_allclose(estimate_similarity(src, noisy), true, atol=0.05 * 500 / 500 + 0.5)


def test_align_face_puts_landmarks_on_template():
    size = 128
    template = gpen_template(size)
    # A frame where the face is the template moved, turned and shrunk.
    to_frame = _similarity(-0.3, 0.6, 200.0, 150.0)
    landmarks = _apply(to_frame, template)
    frame = np.zeros((400, 400, 3), np.uint8)
    for x, y in landmarks:
        frame[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2] = 255
    crop, affine = align_face(frame, landmarks, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(_apply(affine, landmarks), template, atol=1e-2)
    for x, y in template:  # the bright dots land on the template points
        assert crop[int(round(y)), int(round(x))].max() > 100


def test_soft_mask_shape_range_and_feather():
    m = soft_mask(64)
    assert m.dtype == np.float32 and m.shape == (64, 64)
    assert m.min() == 0.0 and m.max() == 1.0
    assert m[0].max() == 0.0 and m[:, -1].max() == 0.0  # border never pasted
    assert m[32, 32] == 1.0
    row = m[32, :32]
    assert np.all(np.diff(row) >= 0)  # monotonic ramp from border to centre
    np.testing.assert_array_equal(m, m.T)
    np.testing.assert_array_equal(m, m[::-1, ::-1])


def _scene(h=240, w=320, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8, w // 8, 3)).astype(np.uint8)
    import cv2

    return cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)


def test_paste_passthrough_reproduces_frame():
    frame = _scene()
    landmarks = _apply(_similarity(0.2, 0.35, 100.0, 60.0), gpen_template(256))
    crop, affine = align_face(frame, landmarks, 256)
    out = paste_faces(frame, [(crop, affine)])
    assert out is not frame and out.dtype == np.uint8
    assert psnr(out, frame) > 40


def test_paste_touches_only_the_face_region():
    frame = _scene()
    landmarks = _apply(_similarity(0.0, 0.3, 100.0, 60.0), gpen_template(256))
    _, affine = align_face(frame, landmarks, 256)
    white = np.full((256, 256, 3), 255, np.uint8)
    out = paste_faces(frame, [(white, affine)])
    changed = np.any(out != frame, axis=2)
    ys, xs = np.nonzero(changed)
    inv = invert_affine(affine)
    corners = _apply(inv, np.array([[0, 0], [255, 0], [0, 255], [255, 255]], float))
    assert xs.min() >= corners[:, 0].min() - 1 and xs.max() <= corners[:, 0].max() + 1
    assert ys.min() >= corners[:, 1].min() - 1 and ys.max() <= corners[:, 1].max() + 1
    centre = _apply(inv, np.array([[128.0, 128.0]]))[0].round().astype(int)
    assert out[centre[1], centre[0]].min() == 255  # full weight in the middle


def test_paste_face_partly_outside_frame():
    frame = _scene()
    h, w = frame.shape[:2]
    # Scale 1: a 128 px footprint whose centre lies outside the frame, past each edge in turn.
    for tx, ty in [(-80.0, -80.0), (w - 48.0, h - 48.0), (-80.0, h / 2), (w / 2, -80.0)]:
        _, affine = align_face(frame, _apply(_similarity(0.0, 1.0, tx, ty), gpen_template(128)), 128)
        grey = np.full((128, 128, 3), 128, np.uint8)
        out = paste_faces(frame, [(grey, affine)])
        assert out.shape == frame.shape
        assert np.any(out != frame)  # the visible part was pasted
        # Pass-through at the edge also stays faithful.
        crop, _ = align_face(frame, _apply(_similarity(0.0, 1.0, tx, ty), gpen_template(128)), 128)
        assert psnr(paste_faces(frame, [(crop, affine)]), frame) > 40
    # Entirely outside: nothing happens.
    _, far = align_face(frame, _apply(_similarity(0.0, 0.3, 5000.0, 5000.0), gpen_template(128)), 128)
    np.testing.assert_array_equal(paste_faces(frame, [(np.zeros((128, 128, 3), np.uint8), far)]), frame)


def test_overlapping_faces_composite_nearer_on_top():
    frame = np.full((200, 200, 3), 100, np.uint8)
    small = _apply(_similarity(0.0, 0.25, 60.0, 60.0), gpen_template(256))  # farther face
    big = _apply(_similarity(0.0, 0.4, 70.0, 50.0), gpen_template(256))  # nearer, overlapping
    _, a_small = align_face(frame, small, 256)
    _, a_big = align_face(frame, big, 256)
    red = np.zeros((256, 256, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((256, 256, 3), np.uint8)
    blue[..., 2] = 255
    for order in ([(red, a_small), (blue, a_big)], [(blue, a_big), (red, a_small)]):
        out = paste_faces(frame, order)
        centre_big = _apply(invert_affine(a_big), np.array([[128.0, 128.0]]))[0].round().astype(int)
        np.testing.assert_array_equal(out[centre_big[1], centre_big[0]], [0, 0, 255])
        # Every pixel is a convex mix: red + blue + grey weights cannot exceed the extremes.
        assert out.astype(int).sum(-1).max() <= 300 + 2
        assert np.all(out[..., 1] <= 100)
    np.testing.assert_array_equal(paste_faces(frame, [(red, a_small), (blue, a_big)]),
                                  paste_faces(frame, [(blue, a_big), (red, a_small)]))


def test_alpha_and_custom_masks():
    frame = np.full((100, 100, 3), 0, np.uint8)
    _, affine = align_face(frame, _apply(_similarity(0.0, 0.3, 10.0, 10.0), gpen_template(256)), 256)
    white = np.full((256, 256, 3), 200, np.uint8)
    np.testing.assert_array_equal(paste_faces(frame, [(white, affine)], alphas=[0.0]), frame)
    centre = _apply(invert_affine(affine), np.array([[128.0, 128.0]]))[0].round().astype(int)
    half = paste_faces(frame, [(white, affine)], alphas=[0.5])
    assert half[centre[1], centre[0], 0] == 100
    empty = np.zeros((256, 256), np.float32)
    np.testing.assert_array_equal(paste_faces(frame, [(white, affine)], masks=[empty]), frame)
    with pytest.raises(ValueError):
        paste_faces(frame, [(white, affine)], alphas=[1.5])
    with pytest.raises(ValueError):
        paste_faces(frame, [(white, affine)], alphas=[1.0, 1.0])
    # One strength per face: a face at 0 leaves its pixels alone while another is pasted.
    wide = np.zeros((100, 200, 3), np.uint8)
    _, right = align_face(wide, _apply(_similarity(0.0, 0.3, 110.0, 10.0), gpen_template(256)), 256)
    both = paste_faces(wide, [(white, affine), (white, right)], alphas=[0.0, 1.0])
    np.testing.assert_array_equal(both[:, :100], wide[:, :100])
    assert both[:, 100:].max() == 200
    with pytest.raises(ValueError):
        paste_faces(frame, [(white, affine)], masks=[])


def test_soften_small_face_blurs_only_small_faces():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (256, 256, 3)).astype(np.uint8)
    assert soften_small_face(crop, 150) is crop
    soft = soften_small_face(crop, 30)
    assert soft.shape == crop.shape and soft.dtype == np.uint8
    assert np.abs(np.diff(soft.astype(float), axis=1)).mean() < 0.5 * np.abs(np.diff(crop.astype(float), axis=1)).mean()
    softer = soften_small_face(crop, 15)
    assert np.abs(np.diff(softer.astype(float), axis=1)).mean() < np.abs(np.diff(soft.astype(float), axis=1)).mean()


def test_weight_out_is_the_combined_weight_each_pixel_was_pasted_with():
    frame = np.zeros((200, 200, 3), np.uint8)
    small = _apply(_similarity(0.3, 0.25, 50.0, 60.0), gpen_template(256))
    big = _apply(_similarity(-0.2, 0.4, 70.0, 50.0), gpen_template(256))
    faces = [(np.full((256, 256, 3), 255, np.uint8), align_face(frame, points, 256)[1]) for points in (small, big)]
    weight = np.zeros((200, 200), np.float32)
    out = paste_faces(frame, faces, alphas=[0.8, 0.6], weight_out=weight)
    assert 0.0 <= weight.min() and weight.max() <= 0.92 + 1e-6  # 1 - (1 - 0.8)(1 - 0.6) at most
    # White over black, composited one over the other: each pixel is 255 times its combined weight.
    assert np.abs(out[..., 0].astype(np.float32) - 255 * weight).max() <= 1.0
    assert not np.any(out[weight == 0])  # weight 0: the pixel is the frame's
    assert (weight > 0.9).sum() > 100  # the overlap is covered by both faces
    # Without faces at strength 0 nothing is added to the weight.
    none = np.zeros((200, 200), np.float32)
    paste_faces(frame, faces, alphas=[0.0, 0.0], weight_out=none)
    assert not none.any()
