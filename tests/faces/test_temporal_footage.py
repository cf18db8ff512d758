"""Temporal blending through the engine on real footage: harmless on motion, removes a restorer's
flicker, keeps blinks and mouth movement."""
from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.faces.align import gpen_template
from gpen_video.faces.detect import RetinaFaceOnnx
from gpen_video.faces.temporal import face_region
from gpen_video.review.metrics import QualityObserver, flicker, psnr
from gpen_video.restore import PassthroughRestorer
from gpen_video.types import Frame
from tests.helpers.fakes import SharpenRestorer
from tests.helpers.real_media import video_frames

S = 256  # crop side: small keeps the tests quick
FACE = face_region(gpen_template(S), S) > 0.5


def _scaled(images, factor):
    return [cv2.resize(im, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA) for im in images]


def _panned_clip(count=24, step=6):
    """A talking-head face pasted in front of a real crowd background that pans ``step`` px/frame."""
    background = _scaled(video_frames("crowd_1080p.mp4", 1), 0.5)[0]  # 960 x 540
    heads = _scaled(video_frames("talking_head_844.mp4", count), 0.4)  # 338 x 338
    out = []
    for k, head in enumerate(heads):
        frame = background[100:460, 100 + step * k : 100 + step * k + 480].copy()
        frame[40:300, 110:370] = head[30:290, 40:300]
        out.append(frame)
    return out


@pytest.fixture(scope="module")
def clips():
    return {
        "talking_head": _scaled(video_frames("talking_head_844.mp4", 30), 0.5),
        "crowd": _scaled(video_frames("crowd_1080p.mp4", 20), 0.5),
        "panned": _panned_clip(),
        "glasses": list(video_frames("lp_d9_3s.mp4", 45)),  # blinks behind glasses, cheeks puffed
    }


class NoisyRestorer(PassthroughRestorer):
    """A seeded unstable restorer: per crop a random tone shift and fresh texture noise."""

    def __init__(self, size=S, seed=0):
        super().__init__(size=size)
        self.rng = np.random.default_rng(seed)

    def submit(self, crops, tag=None):
        shifted = crops + self.rng.uniform(-8, 8, (len(crops), 1, 1, 1)) + self.rng.normal(0, 6, crops.shape)
        super().submit(np.clip(shifted, 0, 255).astype(np.uint8), tag)


class Faces:
    """Engine observer keeping each frame's faces: track id, input crop, restored and blended crops;
    and the package's own quality measures of the run."""

    def __init__(self):
        self.frames = []
        self.quality = QualityObserver()

    def observe(self, result, faces):
        self.frames.append({f.aligned.track_id: (f.aligned.crop, f.restored, f.blended) for f in faces})
        self.quality.observe(result, faces)

    def tracks(self, part):
        """Per track, runs of consecutive frames of crops ``part`` (0 input, 1 restored, 2 blended)."""
        runs, open_runs = [], {}
        for faces in self.frames:
            runs.extend(open_runs.pop(tid) for tid in [t for t in open_runs if t not in faces])
            for tid, crops in faces.items():
                open_runs.setdefault(tid, []).append(crops[part])
        return runs + list(open_runs.values())


def _run(images, restorer, temporal, detector):
    settings = Settings()
    settings.faces.temporal = temporal
    engine = Engine(settings, restorer=restorer, detector=detector)
    faces = Faces()
    frames = [Frame(i, i, Fraction(1, 25), im) for i, im in enumerate(images)]
    return [r.enhanced for r in engine.stream(frames, observer=faces)], faces


@pytest.fixture(scope="module")
def detector():
    return RetinaFaceOnnx(det_size=640)


@pytest.mark.parametrize("name", ["talking_head", "crowd", "panned", "glasses"])
def test_default_blending_costs_nothing_with_the_passthrough_restorer(clips, detector, name):
    frames = clips[name]
    off, faces = _run(frames, PassthroughRestorer(size=S), 0.0, detector)
    on, _ = _run(frames, PassthroughRestorer(size=S), Settings().faces.temporal, detector)
    assert sum(len(f) for f in faces.frames) >= len(frames)  # faces were found and blended
    psnr_off = np.array([min(psnr(o, f), 100) for o, f in zip(off, frames)])
    psnr_on = np.array([min(psnr(o, f), 100) for o, f in zip(on, frames)])
    assert psnr_off.mean() - psnr_on.mean() <= 0.1
    assert psnr_off.min() - psnr_on.min() <= 0.1


def _face_flicker(runs):
    return float(np.mean([flicker(run, FACE) for run in runs if len(run) >= 2]))


def _face_error(runs, truth_runs):
    errors = [np.abs(c.astype(np.float32) - t)[FACE].mean() for run, truths in zip(runs, truth_runs) for c, t in zip(run[1:], truths[1:])]
    return float(np.mean(errors))


@pytest.mark.parametrize("name", ["talking_head", "crowd", "panned"])
def test_blending_removes_a_restorers_flicker_on_real_footage(clips, detector, name):
    _, faces = _run(clips[name], NoisyRestorer(), Settings().faces.temporal, detector)
    clean, restored, blended = faces.tracks(0), faces.tracks(1), faces.tracks(2)  # the input is the flicker-free output
    assert _face_error(blended, clean) < 0.8 * _face_error(restored, clean)
    assert faces.quality.summary()["temporal_flicker_reduction"] >= 0.5  # the report's measure, every track
    if name != "crowd":  # the subject's whole face, as seen in the output
        subject = max(range(len(clean)), key=lambda k: len(clean[k]))
        assert 1 - _face_flicker(blended[subject : subject + 1]) / _face_flicker(restored[subject : subject + 1]) >= 0.5


def _amplitude(runs, region):
    """Mean over pixels of the temporal std of a landmark region of the aligned crops."""
    (run,) = runs
    stack = np.stack([crop[region].astype(np.float32) for crop in run])
    return float(stack.std(axis=0).mean())


@pytest.mark.parametrize("name", ["talking_head", "glasses"])
def test_blinks_and_mouth_keep_their_amplitude(clips, detector, name):
    _, steady = _run(clips[name], SharpenRestorer(size=S), 0.0, detector)
    _, blended = _run(clips[name], SharpenRestorer(size=S), Settings().faces.temporal, detector)
    template = gpen_template(S)
    for (x, y), (w, h) in (((template[:2, 0].mean(), template[0, 1]), (S // 3, S // 10)), (template[3:].mean(0), (S // 4, S // 7))):
        region = (slice(int(y - h / 2), int(y + h / 2)), slice(int(x - w / 2), int(x + w / 2)))
        ratio = _amplitude(blended.tracks(2), region) / _amplitude(steady.tracks(2), region)
        assert 0.9 <= ratio <= 1.1, ratio
