import time

import cv2
import numpy as np
import pytest

from gpen_video.faces.analyzer import FaceAnalyzer, FrameFaces, build_tracker
from gpen_video.faces.detect import RetinaFaceOnnx
from gpen_video.faces.smooth import LandmarkSmoother
from gpen_video.faces.track import FaceTracker, SceneCutDetector
from gpen_video.review.bench_measures import id_switches
from gpen_video.types import Detection
from tests.helpers.real_media import video_frames

BASE = np.array([[0, 0], [40, 0], [20, 22], [6, 45], [34, 45]], np.float32)


def _det(x, y, size=60.0):
    lm = BASE * (size / 60.0) + np.array([x, y], np.float32)
    return Detection(box=np.array([x - 10, y - 15, x + size - 10, y + size], np.float32), score=0.99, landmarks=lm)


def test_two_faces_keep_ids_through_motion_and_occlusion():
    tracker = FaceTracker(smoother=None)
    ids = []
    for t in range(40):
        dets = [_det(50 + 3 * t, 100), _det(400 - 2 * t, 300)]
        if 15 <= t < 20:  # the first face is occluded for 5 frames
            dets = dets[1:]
        faces = tracker.update(dets, t)
        ids.append({round(float(f.detection.landmarks[0, 1])): f.track_id for f in faces})
        if 15 < t < 20:
            assert len(faces) == 1  # occluded face is not output once the coast is spent
    assert id_switches(ids) == 0
    assert len({tid for frame in ids for tid in frame.values()}) == 2


def test_new_face_gets_new_id_and_reset_never_reuses_ids():
    tracker = FaceTracker()
    a = tracker.update([_det(50, 50)], 0)[0].track_id
    both = tracker.update([_det(51, 50), _det(300, 300)], 1)
    assert [f.track_id for f in both][0] == a and len({f.track_id for f in both}) == 2
    tracker.reset()
    after = tracker.update([_det(51, 50)], 2)
    assert after[0].track_id not in {f.track_id for f in both}


def test_carried_frames_extrapolate_motion():
    tracker = FaceTracker(smoother=None)
    for t in range(0, 30, 3):  # detector every 3 frames, face moves 4 px/frame
        tracker.update([_det(100 + 4 * t, 100)], t, period=3)
        for k in (1, 2):
            carried = tracker.update(None, t + k)
            assert len(carried) == 1
    # After warm-up the prediction follows the motion instead of freezing.
    predicted = carried[0].landmarks[0, 0]
    assert abs(predicted - (100 + 4 * 29)) < 4.0


def test_smoother_is_applied_per_track():
    tracker = FaceTracker(smoother=LandmarkSmoother(1.0))
    rng = np.random.default_rng(0)
    out = []
    for t in range(30):
        d = _det(100, 100)
        noisy = Detection(d.box, d.score, d.landmarks + rng.normal(0, 1.5, (5, 2)).astype(np.float32))
        out.append(tracker.update([noisy], t)[0].landmarks)
    assert np.std(np.diff(np.stack(out)[10:], axis=0)) < 0.6 * 1.5 * np.sqrt(2)


def test_scene_cut_detector_on_real_clips():
    crowd = video_frames("crowd_1080p.mp4", 12)
    head = video_frames("talking_head_844.mp4", 12)
    sc = SceneCutDetector()
    cuts = [sc.is_cut(f) for f in list(crowd) + list(head) + list(crowd[:3])]
    assert [i for i, c in enumerate(cuts) if c] == [12, 24]
    assert not SceneCutDetector(0).is_cut(crowd[0])


class _AreaThumbnail(SceneCutDetector):
    """The reference: the whole frame area-averaged to the thumbnail (5-6 ms at 1080p)."""

    @classmethod
    def thumbnail(cls, image):
        return cv2.resize(image, (cls.THUMB, cls.THUMB), interpolation=cv2.INTER_AREA)


def _clips_with_cuts() -> list[np.ndarray]:
    names = ["crowd_1080p.mp4", "talking_head_844.mp4", "lp_d3_3s.mp4", "lp_d9_3s.mp4", "lp_d14_3s.mp4"]
    return [frame for name in names for frame in video_frames(name, 10)]


def test_the_subsampled_thumbnail_finds_the_same_cuts_as_the_whole_frame():
    frames = _clips_with_cuts()
    fast, reference = SceneCutDetector(), _AreaThumbnail()
    got = np.array([fast.distance(f) for f in frames])
    want = np.array([reference.distance(f) for f in frames])
    assert np.flatnonzero(got > fast.threshold).tolist() == np.flatnonzero(want > fast.threshold).tolist() == [
        10, 20, 30, 40]
    assert np.abs(got - want).max() < 0.02
    assert SceneCutDetector.thumbnail(frames[0]).shape == (64, 64, 3)
    assert SceneCutDetector.thumbnail(np.zeros((40, 50, 3), np.uint8)).shape == (64, 64, 3)  # small: no step


@pytest.mark.serial
def test_the_subsampled_thumbnail_costs_a_fraction_of_the_whole_frame():
    frame = video_frames("crowd_1080p.mp4", 1)[0]

    def seconds(thumbnail) -> float:
        thumbnail(frame)
        started = time.perf_counter()
        for _ in range(20):
            thumbnail(frame)
        return time.perf_counter() - started

    assert seconds(SceneCutDetector.thumbnail) < 0.5 * seconds(_AreaThumbnail.thumbnail)


@pytest.fixture(scope="module")
def onnx():
    return RetinaFaceOnnx(det_size=640)


@pytest.mark.parametrize("detect_every", [1, 3])
def test_talking_head_one_track_no_switch(onnx, detect_every):
    frames = video_frames("talking_head_844.mp4", 30)
    analyzer = FaceAnalyzer(onnx, tracker=build_tracker(detect_every), cuts=SceneCutDetector(), detect_every=detect_every)
    results = []
    for start in range(0, len(frames), 8):  # the engine feeds batches
        results += analyzer.process(frames[start : start + 8])
    assert len(results) == len(frames) and all(isinstance(r, FrameFaces) for r in results)
    assert all(len(r.faces) == 1 for r in results)
    assert not any(r.scene_cut for r in results)
    assert id_switches([[f.track_id for f in r.faces] for r in results]) == 0
    assert len({r.faces[0].track_id for r in results}) == 1


def test_analyzer_resets_tracks_at_scene_cut(onnx):
    head = video_frames("talking_head_844.mp4", 4)
    crowd = video_frames("crowd_1080p.mp4", 2)
    analyzer = FaceAnalyzer(onnx, tracker=build_tracker(5), cuts=SceneCutDetector(), detect_every=5)
    out = analyzer.process(list(head) + list(crowd) + [head[0]])
    assert [r.scene_cut for r in out] == [False] * 4 + [True, False, True]
    assert len(out[4].faces) >= 3  # detector ran on the cut although not due
    old = {f.track_id for r in out[:4] for f in r.faces}
    assert old.isdisjoint(f.track_id for f in out[6].faces)


def test_crowd_id_switches_reported(onnx):
    frames = video_frames("crowd_1080p.mp4", 25)
    every1 = FaceAnalyzer(onnx, tracker=build_tracker(1), cuts=SceneCutDetector()).process(frames)
    every3 = FaceAnalyzer(onnx, tracker=build_tracker(3), cuts=SceneCutDetector(), detect_every=3).process(frames)
    # Reference identities: each detect_every=1 track; evaluate detect_every=3 against it by nearest face.
    per_frame = []
    for ref, test in zip(every1, every3):
        mapping = {}
        for f in ref.faces:
            if not test.faces:
                continue
            d = [np.linalg.norm(g.landmarks - f.landmarks, axis=1).mean() for g in test.faces]
            k = int(np.argmin(d))
            if d[k] < 0.3 * (f.detection.box[2] - f.detection.box[0]):
                mapping[f.track_id] = test.faces[k].track_id
        per_frame.append(mapping)
    switches = id_switches(per_frame)
    tracks1 = len({f.track_id for r in every1 for f in r.faces})
    print(f"\ncrowd 25 frames: {tracks1} tracks (every 1), {switches} id switches of detect_every=3 vs every 1")
    assert sum(len(r.faces) >= 4 for r in every1) >= 20
    assert switches <= 2


def test_landmark_distance_matrix_is_candidates_by_tracks_in_face_sizes() -> None:
    from types import SimpleNamespace

    from gpen_video.faces.track import LandmarkDistance

    base = np.array([[0, 0], [10, 0], [5, 5], [0, 10], [10, 10]], dtype=np.float64)
    candidates = [
        SimpleNamespace(points=base, data=SimpleNamespace(box=np.array([0, 0, 20, 10]))),  # size 20
        SimpleNamespace(points=base + 100, data=SimpleNamespace(box=np.array([0, 0, 40, 50]))),  # size 50
    ]
    tracks = [SimpleNamespace(estimate=base + [3, 4]), SimpleNamespace(estimate=base + 100), SimpleNamespace(estimate=base)]
    matrix = LandmarkDistance().get_distances(tracks, candidates)
    assert matrix.shape == (2, 3)
    far = np.hypot(97, 96) / 50
    np.testing.assert_allclose(matrix, [[5 / 20, np.hypot(100, 100) / 20, 0], [far, 0, np.hypot(100, 100) / 50]], rtol=1e-6)
    assert LandmarkDistance().get_distances(tracks, []).shape == (0, 3)
