"""Hiding faces: the redactor's coverage in time (before, after, gaps), its filters, and the real clips."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import av
import numpy as np
import pytest

from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.faces.detect import RetinaFaceOnnx
from gpen_video.faces.redact import FEATHER, Redactor, head_region, hide
from gpen_video.faces.select import EVERY_TRACK, TrackSelection
from gpen_video.job import enhance_video
from gpen_video.restore import PassthroughRestorer
from gpen_video.types import Frame
from tests.helpers.fakes import FixedDetector
from tests.helpers.paths import DATA

BOX = np.float32([40, 40, 60, 64])


def _hidden_frames(redactor: Redactor, present: list[bool]) -> list[bool]:
    """Push frames with a face at BOX where ``present``; which released frames had their face hidden."""
    image = np.full((128, 128, 3), 200, np.uint8)
    image[45:60, 45:55] = 20  # a dark patch inside the face box: hidden means it is gone
    released = []
    for index, here in enumerate(present):
        released += redactor.push(index, index, image, [BOX] if here else [])
    released += redactor.flush()
    assert [index for index, _ in released] == list(range(len(present)))  # every frame, in order
    return [bool(out[45:60, 45:55].min() > 20) for _, out in released]


def test_faces_are_hidden_before_their_first_detection_and_after_their_last():
    present = [False] * 6 + [True] * 3 + [False] * 8
    hidden = _hidden_frames(Redactor(before=2, after=3), present)
    assert hidden == [False] * 4 + [True] * (2 + 3 + 3) + [False] * 5


def test_a_gap_inside_a_face_is_bridged_and_audited():
    present = [True] * 3 + [False] * 5 + [True] * 3
    redactor = Redactor(before=2, after=3)
    assert all(_hidden_frames(redactor, present))
    assert redactor.audit.bridged == [3, 4, 5, 6, 7]
    assert (redactor.audit.faces, redactor.audit.frames) == (1, 11)


def test_live_mode_hides_without_delay():
    redactor = Redactor(before=0, after=1)
    image = np.zeros((32, 32, 3), np.uint8)
    assert len(redactor.push(0, 0, image, [np.float32([4, 4, 12, 12])])) == 1  # released at once


@pytest.mark.parametrize("style", ["blur", "pixelate", "fill"])
def test_every_style_removes_the_detail_of_the_whole_head(style):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    region = head_region(np.float32([80, 80, 120, 130]), 0.15)
    out = hide(image, [region], style)
    x0, y0 = np.floor(region[:2]).astype(int)
    x1, y1 = np.ceil(region[2:]).astype(int)
    assert x0 < 80 and y0 < 80 and x1 > 120 and y1 > 130  # larger than the face box
    inside = out[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].astype(np.float32)
    # Neighbouring pixels barely differ any more (random noise differs by ~85 on average).
    assert np.abs(np.diff(inside, axis=1)).mean() < 15
    band = int(np.ceil(FEATHER * max(region[2] - region[0], region[3] - region[1])))
    outside = np.ones(image.shape[:2], bool)
    outside[y0 - band : y1 + band, x0 - band : x1 + band] = False
    assert np.array_equal(out[outside], image[outside])  # nothing beyond the soft band changes
    edge = np.abs(np.diff(out[y0 - band : y1 + band, x0 - band].astype(np.float32), axis=0)).mean()
    assert edge > 15  # the band's outer edge is still the picture's own noise


def test_no_face_is_found_in_a_redacted_real_clip(tmp_path):
    """The real clip hidden with redact all: its own detector, at twice the default size, finds nothing >= 0.5."""
    settings = Settings()
    settings = replace(settings, restore=replace(settings.restore, restorer="none"),
                       redact=replace(settings.redact, mode="all"))
    output = tmp_path / "hidden.mp4"
    result = enhance_video(DATA / "lp_d9_3s.mp4", output, settings, end=1.5)
    assert result.stats.frames == 45
    assert result.stats.redaction.frames == 45 and result.stats.redaction.faces >= 1
    detector = RetinaFaceOnnx(det_size=2 * Settings().faces.det_size, score_threshold=0.05)
    with av.open(str(output)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 45
    scores = [hit.score for found in detector.detect(frames) for hit in found]
    assert max(scores, default=0.0) < 0.5


def _engine_frames(selection: TrackSelection, mode: str, *, lookahead: int | None, depth: int) -> list[np.ndarray]:
    """Frames of a textured picture with one face (``FixedDetector``) through an engine that hides faces."""
    settings = Settings()
    settings = replace(settings, redact=replace(settings.redact, mode=mode))
    engine = Engine(settings, restorer=PassthroughRestorer(size=128), detector=FixedDetector(),
                    hider=FixedDetector(), selection=selection)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (240, 240, 3), dtype=np.uint8)
    frames = [Frame(k, k, Fraction(1, 25), image) for k in range(6)]
    return [result.enhanced for result in engine.stream(frames, queue_depth=depth, redact_lookahead=lookahead)]


def _face_detail(image: np.ndarray) -> float:
    """Mean step between neighbouring pixels inside FixedDetector's face box (random texture: ~85)."""
    face = image[30:126, 40:136].astype(np.float32)
    return float(np.abs(np.diff(face, axis=1)).mean())


@pytest.mark.parametrize("lookahead, depth", [(None, 8), (0, 1)])  # a file, and live mode
def test_the_engine_hides_every_frame_of_a_face(lookahead, depth):
    hidden = _engine_frames(EVERY_TRACK, "all", lookahead=lookahead, depth=depth)
    assert len(hidden) == 6 and all(_face_detail(image) < 15 for image in hidden)


def test_others_leaves_the_chosen_face_visible_and_hides_the_rest():
    kept = _engine_frames(TrackSelection(frozenset({0})), "others", lookahead=None, depth=8)
    assert all(_face_detail(image) > 40 for image in kept)
    hidden = _engine_frames(TrackSelection(excluded=frozenset({0})), "others", lookahead=None, depth=8)
    assert all(_face_detail(image) < 15 for image in hidden)


def test_what_the_look_finds_is_hidden_around_it_and_it_looks_every_few_frames():
    """A face only the look finds (at frame 8) is hidden from ``before`` frames earlier; the look runs every
    ``look_every`` frames and at a scene cut."""
    looked: list[int] = []

    def look(image):
        looked.append(int(image[0, 0, 0]))  # the frame's number, written into its first pixel
        return [BOX] if image[0, 0, 0] == 8 else []

    redactor = Redactor(before=3, after=3, look=look, look_every=4)
    image = np.full((128, 128, 3), 200, np.uint8)
    image[45:60, 45:55] = 20
    released = []
    for index in range(14):
        frame = image.copy()
        frame[0, 0] = index
        released += redactor.push(index, index, frame, [], cut=index == 10)
    released += redactor.flush()
    assert looked == [0, 4, 8, 10]  # look_every is capped at before + 1 = 4; the cut at 10 starts again
    hidden = [index for index, out in released if out[45:60, 45:55].min() > 20]
    assert hidden == list(range(5, 12))  # 8 - 3 .. 8 + 3
    assert redactor.audit.found_again == 1 and redactor.audit.faces == 0


def test_no_face_is_found_after_a_scene_cut():
    """A hard cut from the talking head (shrunk to 512 px) to a motion clip: with every face hidden, the
    detector at twice the default size finds no face scoring 0.5 before or after the cut."""
    import cv2

    from tests.helpers.real_media import video_frames

    head = [cv2.resize(image, (512, 512), interpolation=cv2.INTER_AREA)
            for image in video_frames("talking_head_844.mp4", 10)]
    images = head + list(video_frames("lp_d3_3s.mp4", 14))
    frames = [Frame(k, k, Fraction(1, 30), image) for k, image in enumerate(images)]
    settings = Settings()
    settings = replace(settings, restore=replace(settings.restore, restorer="none"),
                       redact=replace(settings.redact, mode="all"))
    results = list(Engine(settings, restorer=PassthroughRestorer()).stream(frames))
    assert [r.frame.index for r in results if r.scene_cut][-1] == len(head)  # the cut was seen
    detector = RetinaFaceOnnx(det_size=2 * Settings().faces.det_size, score_threshold=0.05)
    scores = [max((hit.score for hit in hits), default=0.0) for hits in detector.detect([r.enhanced for r in results])]
    assert max(scores) < 0.5, scores
    original = [max((hit.score for hit in hits), default=0.0) for hits in detector.detect(images)]
    assert min(original) > 0.9  # a face in every frame, on both sides of the cut
