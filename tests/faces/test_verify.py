"""The second look at new faces (faces.verify) on real media: real faces pass, the back of a head does not."""
from __future__ import annotations

from collections import defaultdict

import cv2
import numpy as np
import pytest

from gpen_video.config import Settings
from gpen_video.faces.analyzer import build_analyzer
from gpen_video.faces.detect import RetinaFaceOnnx
from gpen_video.faces.gate import build_gate
from gpen_video.faces.verify import CropVerifier
from tests.helpers.real_media import video_frames

# The back of a bald head walking away in the crowd clip: RetinaFace gives it 0.94-0.96 at 640 px.
HEAD_BOX = np.float32([464, 600, 508, 656])  # its box in frame 0
CROWD_FRAMES = 34  # it is tracked until frame 30


@pytest.fixture(scope="module")
def detector() -> RetinaFaceOnnx:
    settings = Settings().faces
    return RetinaFaceOnnx(det_size=settings.det_size, score_threshold=settings.keep_threshold)


@pytest.fixture(scope="module")
def crowd(detector) -> tuple[list[np.ndarray], list]:
    frames = video_frames("crowd_1080p.mp4", CROWD_FRAMES)
    return frames, detector.detect(frames)


class Replay:
    """The detections found once for the whole clip, frame by frame (the verifier asks the real detector)."""

    def __init__(self, found: list) -> None:
        self.found, self.t = found, 0

    def detect(self, images):
        out = self.found[self.t : self.t + len(images)]
        self.t += len(images)
        return out


def _tracks(frames, found, verifier) -> dict[int, list[tuple[int, float, float]]]:
    """Per track, (frame, paste strength, detector score) of each frame, through the analyzer and gate."""
    settings = Settings().faces
    analyzer = build_analyzer(settings, Replay(found), verifier=verifier)
    gate = build_gate(settings)
    tracks = defaultdict(list)
    for t, result in enumerate(analyzer.process(frames)):
        for face, strength in zip(result.faces, gate.strengths(result.faces)):
            tracks[face.track_id].append((t, strength, face.detection.box))
    return tracks


def test_the_back_of_a_head_is_never_restored_and_every_real_face_still_is(crowd, detector) -> None:
    frames, found = crowd
    verifier = CropVerifier(detector, min_score=Settings().faces.verify_score)
    before, after = _tracks(frames, found, None), _tracks(frames, found, verifier)
    assert sorted(before) == sorted(after)  # verification changes what is restored, not the tracks

    def head(tracks) -> int:
        (tid,) = [tid for tid, rows in tracks.items() if rows[0][0] == 0 and np.abs(rows[0][2] - HEAD_BOX).max() < 8]
        return tid

    restored_before = {tid for tid, rows in before.items() if max(s for _, s, _ in rows) > 0}
    restored_after = {tid for tid, rows in after.items() if max(s for _, s, _ in rows) > 0}
    assert head(before) in restored_before and len(before[head(before)]) >= 25  # what the gate alone let through
    assert all(s == 0.0 for _, s, _ in after[head(after)])
    assert restored_after == restored_before - {head(before)}
    # Real faces lose at most one frame to a failed check (a profile's first crop can score 0.6).
    for tid in restored_after:
        first = [min(t for t, s, _ in tracks[tid] if s > 0) for tracks in (before, after)]
        assert first[1] - first[0] <= 1, tid


def test_real_faces_are_found_again_alone_on_their_crops(detector) -> None:
    solvay = cv2.cvtColor(cv2.imread("tests/data/Solvay_conference_1927.png"), cv2.COLOR_BGR2RGB)
    faces = [d for d in RetinaFaceOnnx(det_size=0, score_threshold=0.9).detect([solvay])[0]]
    talking = video_frames("talking_head_844.mp4", 1)[0]
    verifier = CropVerifier(detector)
    scores = verifier.scores(solvay, [d.landmarks for d in faces])
    assert len(faces) == 29 and min(scores) > 0.95  # small grey faces included
    (face,) = detector.detect([talking])[0]
    assert verifier.verify(talking, [face.landmarks]) == [True]
    # the canvas: the aligned face in the middle, black around it
    (canvas,) = verifier.canvases(talking, [face.landmarks])
    assert canvas.shape == (256, 256, 3) and canvas[:64].max() == 0 and canvas[64:192, 64:192].mean() > 40


def test_a_face_shaped_patch_of_plain_skin_is_not_a_face(detector) -> None:
    landmarks = np.float32([[90, 100], [130, 100], [110, 125], [95, 145], [125, 145]])
    skin = np.full((240, 220, 3), (200, 150, 120), np.uint8)
    assert CropVerifier(detector).scores(skin, [landmarks]) == [0.0]
    assert CropVerifier(detector).verify(skin, []) == []
    with pytest.raises(ValueError):
        CropVerifier(detector, min_score=0.0)
