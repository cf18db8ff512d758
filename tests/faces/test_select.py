"""Choosing whose face is restored: track ids from a gallery, refused when the gallery's run tracked
differently, the same ids run after run, and only the chosen track's pixels changed."""
from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.errors import InputError
from gpen_video.faces.fingerprint import run_fingerprint
from gpen_video.faces.detect import RetinaFaceOnnx
from gpen_video.faces.paste import face_roi
from gpen_video.faces.redact import head_region, iou
from gpen_video.faces.select import TrackSelection, parse_track_ids, selection_from_gallery
from gpen_video.job import enhance_video
from gpen_video.restore import PassthroughRestorer
from gpen_video.types import Frame
from tests.helpers.fakes import SharpenRestorer
from tests.helpers.paths import DATA
from tests.helpers.real_media import video_frames

CROWD = DATA / "crowd_1080p.mp4"
SECONDS = 0.4  # 10 frames


def _plain() -> Settings:
    settings = Settings()
    return replace(settings, restore=replace(settings.restore, restorer="none"))


@pytest.fixture(scope="module")
def crowd_galleries(tmp_path_factory):
    """Two galleries of the same crowd run (restorer none): their index.json files."""
    root = tmp_path_factory.mktemp("galleries")
    indexes = []
    for run in ("a", "b"):
        enhance_video(CROWD, root / f"{run}.mp4", _plain(), end=SECONDS, faces_out=root / run)
        indexes.append(root / run / "index.json")
    return indexes


def test_two_runs_give_the_same_track_ids_and_the_same_gallery(crowd_galleries):
    first, second = (json.loads(path.read_text()) for path in crowd_galleries)
    assert len(first["tracks"]) >= 3
    assert first == second
    fingerprint = first["fingerprint"]
    assert fingerprint == run_fingerprint(CROWD, _plain().faces, None, SECONDS).to_dict()
    assert len(fingerprint["input_sha256"]) == 64 and fingerprint["tracking"]["det_size"] == 640


def test_a_gallery_of_other_tracking_settings_or_another_input_is_refused(crowd_galleries):
    index = crowd_galleries[0]
    same = run_fingerprint(CROWD, _plain().faces, None, SECONDS)
    ids = selection_from_gallery(index, same)
    assert ids and selection_from_gallery(index, same, pick=[min(ids)]) == {min(ids)}
    other = run_fingerprint(CROWD, replace(_plain().faces, det_size=320), None, SECONDS)
    with pytest.raises(InputError, match=r"other tracking settings \(det_size 640 -> 320\)"):
        selection_from_gallery(index, other)
    with pytest.raises(InputError, match="another input"):
        selection_from_gallery(index, run_fingerprint(DATA / "talking_head_844.mp4", _plain().faces, None, SECONDS))
    with pytest.raises(InputError, match="has no track 999"):
        selection_from_gallery(index, same, pick=[999])


def test_track_ids_are_parsed_strictly():
    assert parse_track_ids("3, 7") == {3, 7}
    for bad in ("", "3,", "a", "-1"):
        with pytest.raises(InputError):
            parse_track_ids(bad)


def _stream(engine: Engine) -> list:
    frames = [Frame(k, k, Fraction(1, 25), image) for k, image in enumerate(video_frames(CROWD.name, 10))]
    return list(engine.stream(frames))


def _chosen(gallery) -> int:
    """The gallery's longest track."""
    data = json.loads(gallery.read_text())
    return max(data["tracks"], key=lambda track: track["frames"])["track_id"]


def _inside(faces, track_id: int, shape: tuple[int, int]) -> np.ndarray:
    """bool [H, W]: where the faces of ``track_id`` are pasted (their crops' footprint)."""
    inside = np.zeros(shape, bool)
    for face in faces:
        if face.track_id == track_id:
            roi = face_roi(face.affine, (0, 0, face.crop.shape[1], face.crop.shape[0]), shape)
            if roi is not None:
                x0, y0, x1, y1 = roi
                inside[y0:y1, x0:x1] = True
    return inside


def test_one_chosen_track_is_the_only_change(crowd_galleries):
    """Restoring one track (a sharpening stand-in) changes the frame, against a ``--restorer none`` run of the
    same choice, inside that track's regions only (the pass-through resamples the faces it pastes: the same
    choice is the reference, so that what differs is the restorer's work alone)."""
    chosen = _chosen(crowd_galleries[0])
    settings, selection = _plain(), TrackSelection(frozenset({chosen}))
    restored = _stream(Engine(settings, restorer=SharpenRestorer(), selection=selection))
    plain = _stream(Engine(settings, restorer=PassthroughRestorer(), selection=selection))
    changed_inside = 0
    for ours, theirs in zip(restored, plain, strict=True):
        assert [f.track_id for f in ours.faces] == [f.track_id for f in theirs.faces]  # the same tracking
        diff = np.abs(ours.enhanced.astype(np.int16) - theirs.enhanced.astype(np.int16)).max(axis=2) > 0
        inside = _inside(ours.faces, chosen, diff.shape)
        assert not diff[~inside].any()
        changed_inside += int(diff[inside].sum())
        # The faces not chosen keep the input's pixels: nothing is pasted over them.
        others = np.zeros(diff.shape, bool)
        for face in ours.faces:
            if face.track_id != chosen:
                others |= _inside([face], face.track_id, diff.shape)
        assert np.array_equal(ours.enhanced[others & ~inside], ours.frame.image[others & ~inside])
    assert changed_inside > 1000  # the chosen face was restored


def test_the_chosen_track_restored_and_every_other_face_hidden(crowd_galleries):
    """``--tracks N --redact others`` on the crowd: the detector at twice the default size finds no face
    scoring 0.5 outside the chosen face's head, and still finds the chosen face."""
    chosen = _chosen(crowd_galleries[0])
    settings = replace(_plain(), redact=replace(_plain().redact, mode="others"))
    results = _stream(Engine(settings, restorer=PassthroughRestorer(), selection=TrackSelection(frozenset({chosen}))))
    detector = RetinaFaceOnnx(det_size=2 * Settings().faces.det_size, score_threshold=0.05)
    found_chosen = 0
    for result, hits in zip(results, detector.detect([r.enhanced for r in results]), strict=True):
        heads = [head_region(face.box, 0.15) for face in result.faces if face.track_id == chosen]
        left = [hit.score for hit in hits if not any(iou(hit.box, head) > 0 for head in heads)]
        assert max(left, default=0.0) < 0.5, result.frame.index
        found_chosen += any(hit.score >= 0.5 for hit in hits if any(iou(hit.box, head) > 0 for head in heads))
    assert found_chosen >= len(results) - 1  # the chosen face stays visible
