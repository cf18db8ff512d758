"""Faces larger than the crop lose nothing on their way through a pass-through restorer: the paste adds the
restorer's change to the frame instead of the crop. Real talking heads: the 844 px one enlarged 2x (pixels
repeated, so the frame has detail no crop can hold) until its face is over twice the 512 crop's size, and a
512 px one whose face is as large as the crop; whole-frame PSNR of a lossless (crf 0) encode, with faces
against without."""
from __future__ import annotations

from dataclasses import replace

import av
import cv2
import numpy as np
import pytest

from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.faces.align import affine_scale, face_affine
from gpen_video.faces.select import TrackSelection
from gpen_video.job import enhance_video
from gpen_video.restore import PassthroughRestorer
from gpen_video.review.metrics import psnr
from tests.helpers.clips import make_clip
from tests.helpers.real_media import video_frames


FRAMES = 5


@pytest.fixture(scope="module", params=["talking_head_844.mp4", "lp_d14_3s.mp4"])
def large_face_clip(request, tmp_path_factory):
    """(clip, largest crop pixels per frame pixel its face may have): FRAMES frames of the 844 px talking head
    enlarged to 1688 px (about 270 px between its eyes and its mouth), or of the 512 px one."""
    name = request.param
    frames = video_frames(name, FRAMES)
    if name == "talking_head_844.mp4":
        frames = tuple(cv2.resize(f, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST) for f in frames)
    height, width = frames[0].shape[:2]
    path = make_clip(tmp_path_factory.mktemp("large") / name, size=(width, height), frames=FRAMES, audio=(),
                     image=lambda i, w, h: frames[i])
    return path, 0.5 if name == "talking_head_844.mp4" else 1.0


def decoded(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def round_trip(clip, out, frame_path: str, selection: TrackSelection, *, keep_detail: bool = True) -> float:
    """Mean whole-frame PSNR of ``clip`` through the engine (pass-through restorer; every face pasted from
    the first frame) and a crf 0 encode; ``keep_detail`` off pastes the crop itself."""
    settings = Settings()
    settings.faces = replace(settings.faces, confirm_frames=1, fade_frames=0, detail_transfer=keep_detail)
    settings.restore.frame_path = frame_path
    settings.encode = replace(settings.encode, crf=0, preset="ultrafast")
    engine = Engine(settings, restorer=PassthroughRestorer(size=512), selection=selection)
    result = enhance_video(clip, out, settings, engine=engine)
    assert result.stats.faces >= result.stats.frames > 0 and engine.frame_path.name == frame_path
    return float(np.mean([psnr(a, b) for a, b in zip(decoded(out), decoded(clip))]))


def test_the_faces_are_at_least_as_large_as_the_crop(large_face_clip):
    clip, most = large_face_clip
    image = decoded(clip)[0]
    faces = Engine(Settings(), restorer=PassthroughRestorer(size=512)).detector.detect([image])[0]
    assert affine_scale(face_affine(faces[0].landmarks, 512)) <= most


@pytest.mark.parametrize("frame_path", ["host", "device"])
def test_a_pass_through_round_trip_of_a_large_face_is_within_a_db_of_the_clip_without_faces(
        large_face_clip, tmp_path, frame_path):
    large_face_clip, _ = large_face_clip
    with_faces = round_trip(large_face_clip, tmp_path / "faces.mp4", frame_path, TrackSelection())
    without = round_trip(large_face_clip, tmp_path / "none.mp4", frame_path,
                            TrackSelection(excluded=frozenset(range(8))))
    crop = round_trip(large_face_clip, tmp_path / "crop.mp4", frame_path, TrackSelection(), keep_detail=False)
    print(f"\n{frame_path}: whole-frame PSNR {with_faces:.2f} dB with the face, {without:.2f} dB without, "
          f"{crop:.2f} dB pasting the crop")
    assert with_faces >= without - 1.0
    assert crop < with_faces - 0.1  # the face really is pasted: the crop itself loses what it cannot hold
