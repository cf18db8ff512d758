"""Background upsamplers: Lanczos, spandrel networks (tiny random ESRGANs made by spandrel itself), tiling."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gpen_video.errors import WeightsError
from gpen_video.faces.align import align_face, gpen_template, scale_affine
from gpen_video.review.metrics import psnr
from gpen_video.upscale.build import build_upsampler
from gpen_video.upscale.lanczos import LanczosUpsampler
from gpen_video.upscale.settings import UpscaleSettings
from gpen_video.upscale.spandrel_sr import SpandrelUpsampler, load_sr_model
from tests.helpers.fakes import save_tiny_gpen, save_tiny_sr
from tests.helpers.real_media import solvay


def test_scale_affine_aligns_the_enlarged_frame_like_the_original() -> None:
    image = solvay()[40:200, 100:300]
    landmarks = gpen_template(60) + np.float32([70, 50])
    crop, affine = align_face(image, landmarks, 128)
    big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    big_crop = cv2.warpAffine(big, scale_affine(affine, 2), (128, 128), flags=cv2.INTER_LINEAR)
    # Same face, same place: the enlarged frame's crop differs only by interpolation, not by a shift.
    assert psnr(crop[8:-8, 8:-8], big_crop[8:-8, 8:-8]) > 30
    shifted = cv2.warpAffine(big, scale_affine(affine, 2) + np.float32([[0, 0, 1], [0, 0, 0]]), (128, 128))
    assert psnr(crop[8:-8, 8:-8], shifted[8:-8, 8:-8]) < psnr(crop[8:-8, 8:-8], big_crop[8:-8, 8:-8]) - 3


def test_lanczos_upsampler_gives_exact_sizes() -> None:
    frame = solvay()[:75, :101]
    for scale in (1, 2, 3, 4):
        (out,) = LanczosUpsampler(scale).upscale([frame])
        assert out.shape == (75 * scale, 101 * scale, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("model_scale, scale", [(4, 2), (2, 3)])  # tiles box-averaged; Lanczos after
def test_tiled_and_untiled_network_agree_without_seams(tmp_path: Path, model_scale: int, scale: int) -> None:
    descriptor = load_sr_model(save_tiny_sr(tmp_path / "sr.pth", scale=model_scale))
    frames = [solvay()[120:160, 230:286], solvay()[320:360, 630:686]]  # real faces, 40 x 56
    whole = SpandrelUpsampler(descriptor, scale=scale, tile=0, precision="fp32").upscale(frames)
    # The tiny network sees about 19 input pixels each way: 20 px of overlap must hide every tile edge.
    tiled = SpandrelUpsampler(descriptor, scale=scale, tile=16, overlap=20, precision="fp32").upscale(frames)
    for a, b in zip(whole, tiled):
        assert a.shape == b.shape == (40 * scale, 56 * scale, 3)
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.max() <= 1
        seams = diff[[16 * scale - 1, 16 * scale, 32 * scale - 1, 32 * scale]]  # rows on both sides of tile edges
        assert seams.mean() <= diff.mean() + 0.05
    blind = SpandrelUpsampler(descriptor, scale=scale, tile=16, overlap=0, precision="fp32").upscale(frames[:1])
    assert np.abs(blind[0].astype(int) - whole[0]).max() > 1  # the check can fail: no overlap shows the edges


def test_network_batches_frames_of_one_size_and_keeps_order(tmp_path: Path) -> None:
    descriptor = load_sr_model(save_tiny_sr(tmp_path / "sr.pth", scale=2))
    a, b, c = solvay()[:24, :32], solvay()[24:48, 32:64], solvay()[:30, :20]
    upsampler = SpandrelUpsampler(descriptor, scale=2, tile=0, precision="fp32")
    together = upsampler.upscale([a, b, c])
    alone = [upsampler.upscale([x])[0] for x in (a, b, c)]
    for x, y in zip(together, alone):
        assert x.shape == y.shape and np.abs(x.astype(int) - y.astype(int)).max() <= 1


def test_bg_weights_of_another_architecture_is_a_one_line_error(tmp_path: Path) -> None:
    gpen = save_tiny_gpen(tmp_path / "gpen.pth")
    with pytest.raises(WeightsError) as error:
        build_upsampler(UpscaleSettings(scale=2, bg_weights=str(gpen)))
    assert "gpen.pth" in str(error.value) and "\n" not in str(error.value)
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "odd.pth")
    with pytest.raises(WeightsError, match="odd.pth is not a super-resolution model"):
        build_upsampler(UpscaleSettings(scale=2, bg_weights=str(tmp_path / "odd.pth")))


def test_scale_one_loads_no_network(tmp_path: Path) -> None:
    settings = UpscaleSettings(scale=1, bg_upsampler="realesrgan-x4", bg_weights=str(tmp_path / "absent.pth"))
    assert isinstance(build_upsampler(settings), LanczosUpsampler)
