"""Which frame path an engine takes (auto: the device on CUDA only), the host path's pictures, and the
explicit fall-back to the host where the device path has no support yet."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.faces.align import align_face, face_affine
from gpen_video.faces.paste import paste_faces
from gpen_video.gpu.frame_path import HostFramePath, choose_frame_path
from tests.helpers.fakes import FixedDetector, RecordingRestorer
from tests.helpers.real_media import video_frames


@pytest.mark.parametrize("setting, device, upscale, want", [
    ("auto", "cpu", 1, "host"),  # OpenCV is faster than torch on the CPU
    ("auto", "cuda", 1, "device"),
    ("auto", "cuda:1", 1, "device"),
    ("auto", "cuda", 2, "host"),  # enlarged frames come from the upsampler on the host
    ("device", "cpu", 1, "device"),  # forced: how tests hold the device path against the host path
    ("device", "cuda", 4, "host"),
    ("host", "cuda", 1, "host"),
])
def test_the_frame_path_choice(setting, device, upscale, want):
    choice = choose_frame_path(setting, device, upscale=upscale)
    assert choice.name == want and choice.reason
    if upscale > 1:
        assert "upscale" in choice.reason
    with pytest.raises(ValueError, match="frame path"):
        choose_frame_path("gpu", device)


def test_a_forced_device_path_that_cannot_run_falls_back_to_the_host_and_says_so(caplog):
    settings = Settings()
    settings.restore.frame_path = "device"
    settings.upscale.scale = 2
    with caplog.at_level(logging.WARNING, logger="gpen_video.gpu.frame_path"):
        engine = Engine(settings, restorer=RecordingRestorer(), detector=FixedDetector())
    assert engine.frame_path.name == "host" and "upscale" in engine.frame_path_choice.reason
    assert "host path runs instead" in caplog.text
    settings.upscale.scale = 1
    assert Engine(settings, restorer=RecordingRestorer(), detector=FixedDetector()).frame_path.name == "device"
    settings.restore.frame_path = "auto"  # the restorer is on the CPU
    assert Engine(settings, restorer=RecordingRestorer(), detector=FixedDetector()).frame_path.name == "host"


def test_the_host_path_is_align_face_and_paste_faces():
    image = video_frames("talking_head_844.mp4", 1)[0]
    landmarks = [np.float32([[380, 400], [470, 400], [425, 450], [390, 500], [460, 500]]),
                 np.float32([[100, 100], [140, 100], [120, 125], [105, 145], [135, 145]])]
    path = HostFramePath()
    crops, held = path.cut(image, [face_affine(points, 128) for points in landmarks], 128)
    faces = [align_face(image, points, 128) for points in landmarks]
    assert held is crops and np.array_equal(np.stack(crops), np.stack([crop for crop, _ in faces]))
    restored = [(255 - crop, affine) for crop, affine in faces]
    masks = np.full((2, 128, 128), 0.5, np.float32)
    got, planes = path.paste(image, held, restored, alphas=[1.0, 0.5], masks=masks, detail=[1.0, 0.0], planes=True)
    assert planes is None  # the encoder converts host frames itself
    assert np.array_equal(got, paste_faces(image, restored, alphas=[1.0, 0.5], masks=list(masks), detail=[1.0, 0.0]))
    assert np.mean(got != image) > 0.01
