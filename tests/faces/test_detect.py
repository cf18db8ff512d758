import time

import numpy as np
import pytest

from gpen_video.config import FaceSettings
from gpen_video.errors import InputError, WeightsError
from gpen_video.faces import retina
from gpen_video.faces.detect import FacexlibRetinaFace, RetinaFaceOnnx, build_detector
from tests.helpers.real_media import solvay, video_frames


@pytest.fixture(scope="module")
def detector():
    return RetinaFaceOnnx(det_size=640)


def test_priors_match_network_outputs(detector):
    for h, w in [(480, 640), (352, 640), (640, 640)]:
        loc, score, ldm = detector._forward(np.zeros((1, 3, h, w), np.float32))
        assert loc.shape[1] == score.shape[1] == ldm.shape[1] == retina.prior_boxes(h, w).shape[0]
    p = retina.prior_boxes(64, 64)
    np.testing.assert_allclose(p[0], [4, 4, 16, 16])  # first cell, first size
    np.testing.assert_allclose(p[1], [4, 4, 32, 32])
    np.testing.assert_allclose(p[2], [12, 4, 16, 16])  # next column


def test_decode_zero_offsets_gives_prior_box():
    priors = np.array([[50.0, 40.0, 16.0, 32.0]], np.float32)
    boxes, pts = retina.decode(np.zeros((1, 4)), np.zeros((1, 10)), priors)
    np.testing.assert_allclose(boxes[0], [42, 24, 58, 56])
    np.testing.assert_allclose(pts[0], np.tile([50.0, 40.0], (5, 1)))


def test_nms_suppresses_overlaps_only():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    keep = retina.nms(boxes, np.array([0.8, 0.9, 0.7]), 0.4)
    assert keep.tolist() == [1, 2]


def test_detection_size_never_upscales():
    assert retina.detection_size(1080, 1920, 640) == (360, 640)
    assert retina.detection_size(300, 200, 640) == (300, 200)
    assert retina.detection_size(1080, 1920, 0) == (1080, 1920)


def test_solvay_all_29_faces():
    faces = RetinaFaceOnnx(det_size=0).detect([solvay()])[0]
    assert len(faces) == 29
    for f in faces:
        lm = f.landmarks
        assert f.landmarks.shape == (5, 2) and f.box.shape == (4,)
        assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]  # left before right
        assert lm[:2, 1].max() < lm[3:, 1].min()  # eyes above mouth
        x0, y0, x1, y1 = f.box
        assert x0 - 2 < lm[:, 0].min() and lm[:, 0].max() < x1 + 2


def test_crowd_faces_in_most_frames_and_batching(detector):
    frames = list(video_frames("crowd_1080p.mp4", 40)[::4])  # 10 frames over 1.6 s
    start = time.perf_counter()
    batched = detector.detect(frames)
    per_frame_ms = (time.perf_counter() - start) * 1000 / len(frames)
    print(f"\ncrowd 1080p, det_size 640: {[len(r) for r in batched]} faces, {per_frame_ms:.0f} ms/frame")
    assert sum(len(r) >= 4 for r in batched) >= 8
    single = detector.detect([frames[3]])[0]
    assert len(single) == len(batched[3])
    for a, b in zip(single, batched[3]):
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=0.05)


def test_downscaled_detection_maps_back_to_full_resolution():
    frame = video_frames("talking_head_844.mp4", 1)[0]
    full = RetinaFaceOnnx(det_size=0).detect([frame])[0]
    small = RetinaFaceOnnx(det_size=320).detect([frame])[0]
    assert len(full) == len(small) == 1
    size = full[0].box[2] - full[0].box[0]
    assert np.abs(full[0].landmarks - small[0].landmarks).max() < 0.05 * size


def test_min_face_and_max_faces():
    image = solvay()
    base = RetinaFaceOnnx(det_size=0).detect([image])[0]
    sides = sorted(max(f.box[2] - f.box[0], f.box[3] - f.box[1]) for f in base)
    limit = float(sides[len(sides) // 2])
    big = RetinaFaceOnnx(det_size=0, min_face=int(np.ceil(limit))).detect([image])[0]
    assert 0 < len(big) < len(base)
    assert all(max(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= np.ceil(limit) for f in big)
    top = RetinaFaceOnnx(det_size=0, max_faces=5).detect([image])[0]
    assert len(top) == 5
    area = lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])  # noqa: E731
    assert min(area(f) for f in top) >= sorted((area(f) for f in base), reverse=True)[4] - 1e-3


def test_empty_frame_and_bad_input(detector):
    assert detector.detect([np.zeros((100, 120, 3), np.uint8)]) == [[]]
    assert detector.detect([]) == []
    with pytest.raises(InputError):
        detector.detect([np.zeros((100, 120), np.uint8)])
    with pytest.raises(InputError):
        detector.detect([np.zeros((100, 120, 3), np.float32)])
    with pytest.raises(InputError):
        RetinaFaceOnnx(score_threshold=1.5)


def test_build_detector_names():
    # The detector reports everything a track may be kept alive by; starting tracks is the tracker's call.
    detector = build_detector(FaceSettings(det_size=320, keep_threshold=0.6, start_threshold=0.95))
    assert isinstance(detector, RetinaFaceOnnx) and detector.det_size == 320 and detector.score_threshold == 0.6
    with pytest.raises(InputError):
        build_detector(FaceSettings(detector="yolo"))


def test_facexlib_backend_loads_weights_and_runs(tmp_path):
    torch = pytest.importorskip("torch")
    from facexlib.detection.retinaface import RetinaFace

    net = RetinaFace(network_name="mobile0.25", device="cpu")
    path = tmp_path / "mnet.pth"
    torch.save({"module." + k: v for k, v in net.state_dict().items()}, path)  # as the release files are
    det = FacexlibRetinaFace(path, network="mobile0.25", det_size=320, score_threshold=0.99)
    out = det.detect([np.zeros((200, 300, 3), np.uint8), np.zeros((100, 100, 3), np.uint8)])
    assert len(out) == 2 and all(isinstance(r, list) for r in out)
    torch.save({"nonsense": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError):
        FacexlibRetinaFace(tmp_path / "bad.pth", network="mobile0.25")
    with pytest.raises(WeightsError):
        FacexlibRetinaFace(tmp_path / "missing.pth", network="mobile0.25")
