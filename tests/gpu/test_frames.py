"""gpu.frames.DeviceFramePath, on the CPU, against the host path it stands in for."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gpen_video.faces.align import face_affine
from gpen_video.gpu.frame_path import HostFramePath
from gpen_video.gpu.colour import rgb_to_i420
from gpen_video.gpu.frames import DeviceFramePath
from gpen_video.review.metrics import psnr
from tests.helpers.real_media import video_frames

LANDMARKS = [np.float32([[380, 400], [470, 400], [425, 450], [390, 500], [460, 500]]),  # larger than the crop
             np.float32([[100, 100], [140, 100], [120, 125], [105, 145], [135, 145]])]


def level_diff(a: np.ndarray, b: torch.Tensor) -> int:
    """Largest difference in uint8 levels between two arrays of the same shape."""
    return int(np.abs(a.astype(np.int16) - b.numpy()).max())


@pytest.mark.parametrize("where", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")])])
def test_device_path_cuts_and_pastes_like_the_host_path(where):
    image = video_frames("talking_head_844.mp4", 1)[0]
    affines = [face_affine(points, 128) for points in LANDMARKS]
    device, host = DeviceFramePath(where), HostFramePath()
    crops, held = device.cut(image, affines, 128)
    want = np.stack(host.cut(image, affines, 128)[0])
    assert crops.dtype == np.uint8 and crops.shape == want.shape == (2, 128, 128, 3)
    assert np.abs(crops.astype(np.int16) - want).max() <= 3 and psnr(crops, want) > 50
    assert held.frame.device.type == where and held.crops.shape == (2, 128, 128, 3)
    faces = [(255 - crop, affine) for crop, affine in zip(want, affines)]
    masks = np.full((2, 128, 128), 0.7, np.float32)
    for kwargs in ({}, {"masks": masks}, {"detail": [1.0, 0.0]}):
        got, planes = device.paste(image, held, faces, alphas=[1.0, 0.6], **kwargs)
        expected, none = host.paste(image, None, faces, alphas=[1.0, 0.6], **kwargs)
        assert planes is None and none is None  # not asked for
        changed = np.any(expected != image, axis=2)
        assert changed.mean() > 0.01, kwargs
        assert psnr(got, expected, changed) > 45, kwargs
    assert np.array_equal(image, video_frames("talking_head_844.mp4", 1)[0])  # the input frame is untouched
    # the encoder's planes: of the pasted frame, of a frame without faces, none for an odd size
    got, planes = device.paste(image, held, faces, alphas=[1.0, 1.0], planes=True)
    assert planes.shape == (844 * 3 // 2, 844) and level_diff(planes, rgb_to_i420(torch.from_numpy(got))) <= 1
    same, planes = device.paste(image, None, [], alphas=[], planes=True)
    assert same is image and level_diff(planes, rgb_to_i420(torch.from_numpy(image))) <= 1
    assert device.paste(image[:-1], None, [], alphas=[], planes=True)[1] is None
    same, planes = host.paste(image, None, [], alphas=[], planes=True)
    assert same is image and planes is None


@pytest.mark.parametrize("where", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")])])
def test_device_path_gives_the_paste_weight_it_used(where):
    image = video_frames("talking_head_844.mp4", 1)[0]
    affines = [face_affine(points, 128) for points in LANDMARKS]
    device, host = DeviceFramePath(where), HostFramePath()
    crops, held = device.cut(image, affines, 128)
    faces = [(255 - crop, affine) for crop, affine in zip(crops, affines)]
    on_device, on_host = np.zeros(image.shape[:2], np.float32), np.zeros(image.shape[:2], np.float32)
    got, _ = device.paste(image, held, faces, alphas=[1.0, 0.6], weight_out=on_device)
    host.paste(image, None, faces, alphas=[1.0, 0.6], weight_out=on_host)
    assert on_device.max() == pytest.approx(1.0, abs=1e-3) and np.abs(on_device - on_host).max() < 0.02
    assert np.array_equal(got[on_device == 0], image[on_device == 0])  # weight 0: the frame's own pixels
    assert np.any(got[on_device > 0.5] != image[on_device > 0.5])
