"""gpen_video.gpu on the CPU against the paths it replaces: swscale (PyAV), cv2 warps, the numpy paste."""
from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import torch

from gpen_video.faces.align import align_face, estimate_similarity, gpen_template
from gpen_video.faces.paste import paste_faces, paste_planned, plan_paste
from gpen_video.gpu.colour import rgb_to_yuv420, yuv420_to_rgb
from gpen_video.gpu.warp import align_crops, paste_planned as paste_planned_torch, warp_affine
from gpen_video.review.metrics import psnr
from tests.helpers.real_media import video_frames


@pytest.fixture(scope="module")
def crowd() -> np.ndarray:
    """A real 1080p frame, shrunk to an odd size by area averaging (no 2x2 chroma blocks left)."""
    return cv2.resize(video_frames("crowd_1080p.mp4", 1)[0], (643, 361), interpolation=cv2.INTER_AREA)


def _planes(frame: av.VideoFrame) -> list[np.ndarray]:
    return [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width] for p in frame.planes]


@pytest.mark.parametrize("matrix", ["itu709", "itu601"])
def test_rgb_to_yuv420_matches_swscale(crowd, matrix):
    even = np.ascontiguousarray(crowd[:360, :642])
    want = _planes(av.VideoFrame.from_ndarray(even, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=matrix, dst_color_range="MPEG"))
    got = [p[0].numpy() for p in rgb_to_yuv420(torch.from_numpy(even)[None], matrix=matrix)]
    for name, g, w in zip("YUV", got, want):
        diff = np.abs(g.astype(np.int16) - w)
        assert g.shape == w.shape, name
        assert diff.max() <= (1 if name == "Y" else 3) and diff.mean() < 0.25 and np.mean(diff > 1) < 0.01, name
    # odd sizes: chroma planes of ceil(H/2) x ceil(W/2), the last row/column replicated
    y, u, v = rgb_to_yuv420(torch.from_numpy(crowd)[None])
    assert y.shape == (1, 361, 643) and u.shape == v.shape == (1, 181, 322)


def test_yuv420_to_rgb_matches_swscale():
    with av.open("tests/data/talking_head_844.mp4") as container:
        frame = next(container.decode(video=0))
    want = frame.to_ndarray(format="rgb24", src_colorspace="itu709", src_color_range="MPEG")
    y, u, v = (torch.from_numpy(p.copy())[None] for p in _planes(frame))
    got = yuv420_to_rgb(y, u, v, matrix="itu709")[0].numpy()
    diff = np.abs(got.astype(np.int16) - want)
    assert got.shape == want.shape and diff.max() <= 2 and diff.mean() < 1.0
    assert psnr(got, want) > 45
    # round trip through the encoder's planes stays close (4:2:0 loses only chroma detail)
    back = yuv420_to_rgb(*rgb_to_yuv420(torch.from_numpy(want)[None]))[0].numpy()
    assert psnr(back, want) > 35
    with pytest.raises(ValueError):
        yuv420_to_rgb(y, u[:, :-1], v)


def paste_faces_torch(frame: torch.Tensor, crops: torch.Tensor, affines, *, alphas=None, masks=None, detail=None,
                      sources=None) -> torch.Tensor:
    """The torch executor of the same plan as ``paste_faces`` makes."""
    plan = plan_paste(tuple(frame.shape[:2]), affines, crops.shape[1], alphas=alphas,
                      masks=None if masks is None else list(masks.numpy()), detail=detail)
    return paste_planned_torch(plan, frame, crops, sources, masks=masks)[0]


def _faces(frame: np.ndarray) -> list[np.ndarray]:
    """Three frame -> crop similarities: upright, rotated and small, and one hanging off the top-left corner."""
    template = gpen_template(128)
    centre = template.mean(axis=0)
    out = []
    for (x, y), scale, angle in (((320, 180), 1.1, 0.0), ((150, 250), 0.45, 0.5), ((20, 15), 0.8, -0.3)):
        c, s = np.cos(angle) * scale, np.sin(angle) * scale
        pts = (template - centre) @ np.array([[c, s], [-s, c]]) + (x, y)
        out.append(estimate_similarity(pts, template))
    return out


def test_align_crops_match_cv2_warp(crowd):
    affines = _faces(crowd)
    want = np.stack([cv2.warpAffine(crowd, a, (128, 128), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT_101) for a in affines])
    got = align_crops(torch.from_numpy(crowd), affines, 128).numpy()
    assert got.shape == want.shape == (3, 128, 128, 3)
    diff = np.abs(got.astype(np.int16) - want)
    # OpenCV works in fixed point: on this detailed frame 99.4% of pixels agree within one level and
    # the rest within 3 (also with the third face's reflected border); float warps are not closer to cv2
    assert diff.max() <= 3 and np.mean(diff <= 1) > 0.99 and diff.mean() < 0.2
    # the same landmarks through the OpenCV path
    crop, affine = align_face(crowd, np.float32([[300, 170], [340, 170], [320, 195], [305, 215], [335, 215]]), 128)
    same = np.abs(align_crops(torch.from_numpy(crowd), [affine], 128)[0].numpy()
                  .astype(np.int16) - crop)
    assert same.max() <= 3 and np.mean(same <= 1) > 0.995
    assert align_crops(torch.from_numpy(crowd), [], 128).shape == (0, 128, 128, 3)


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_paste_matches_numpy_paste(crowd, alpha):
    affines = _faces(crowd)
    alphas = [alpha, 0.0, alpha][: len(affines)]  # a face at 0 is left as it was
    crops = np.stack([255 - cv2.warpAffine(crowd, a, (128, 128)) for a in affines])  # inverted: every pixel changes
    want = paste_faces(crowd, list(zip(crops, affines)), alphas=alphas)
    got = paste_faces_torch(torch.from_numpy(crowd), torch.from_numpy(crops), affines, alphas=alphas).numpy()
    diff = np.abs(got.astype(np.int16) - want)
    assert diff.max() <= 2 and np.mean(diff > 1) < 1e-3 and np.mean(diff == 0) > 0.98
    assert np.mean(want != crowd) > 0.05  # the faces really were pasted
    masks = np.zeros((3, 128, 128), np.float32)
    masks[:, 30:100, 20:110] = 0.8  # parsing-like masks with hard edges
    want = paste_faces(crowd, list(zip(crops, affines)), alphas=alphas, masks=list(masks))
    got = paste_faces_torch(torch.from_numpy(crowd), torch.from_numpy(crops), affines, alphas=alphas,
                            masks=torch.from_numpy(masks)).numpy()
    diff = np.abs(got.astype(np.int16) - want)
    assert diff.max() <= 3 and np.mean(diff > 1) < 1e-3  # the hard mask edge is where they differ


def test_paste_with_detail_transfer_matches_numpy_paste(crowd):
    affines = [a * np.float32([[0.5], [0.5]]) for a in _faces(crowd)]  # faces larger than the crop: detail to keep
    sources = align_crops(torch.from_numpy(crowd), affines, 128)
    crops = np.stack([cv2.GaussianBlur(255 - c, (0, 0), 2.0) for c in sources.numpy()])  # no fine detail of its own
    detail = [1.0, 0.5, 0.0]
    want = paste_faces(crowd, list(zip(crops, affines)), detail=detail)
    got = paste_faces_torch(torch.from_numpy(crowd), torch.from_numpy(crops), affines, detail=detail,
                            sources=sources).numpy()
    diff = np.abs(got.astype(np.int16) - want)
    # The detail is frame - warp_back(crop of frame): both warps' fixed-point differences from OpenCV pass
    # straight into it, on this detailed frame 0.5 % of pixels by 2 levels or more, a few by 5.
    assert diff.max() <= 6 and np.mean(diff > 2) < 2e-3 and psnr(got, want) > 50
    without = paste_faces(crowd, list(zip(crops, affines)))
    assert np.mean(np.abs(without.astype(np.int16) - want) > 4) > 0.01  # the detail really was added
    with pytest.raises(ValueError, match="detail"):
        paste_faces_torch(torch.from_numpy(crowd), torch.from_numpy(crops), affines, detail=detail)


@pytest.mark.parametrize("detail", [0.0, 1.0])
def test_both_executors_give_the_same_combined_paste_weight(crowd, detail):
    affines = _faces(crowd)
    crops = np.stack([255 - cv2.warpAffine(crowd, a, (128, 128)) for a in affines])
    sources = align_crops(torch.from_numpy(crowd), affines, 128)
    plan = plan_paste(crowd.shape[:2], affines, 128, alphas=[1.0, 0.5, 0.8], detail=[detail] * 3)
    _, want = paste_planned(plan, crowd, list(crops), list(sources.numpy()), weight=True)
    _, got = paste_planned_torch(plan, torch.from_numpy(crowd), torch.from_numpy(crops), sources, weight=True)
    assert want.dtype == np.float32 and want.shape == crowd.shape[:2] and 0.0 <= want.min() and want.max() <= 1.0
    assert want.max() > 0.99 and np.mean(want > 0) > 0.05  # the faces' cores are fully pasted
    assert np.abs(got.numpy() - want).max() < 0.02
    assert paste_planned(plan, crowd, list(crops), list(sources.numpy()))[1] is None


def test_warp_affine_checks_its_inputs_and_follows_opencvs_convention(crowd):
    image = torch.from_numpy(crowd).permute(2, 0, 1)[None].float()
    shift = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]])  # output (x, y) samples input (x + 2, y + 3)
    got = warp_affine(image, [shift], (100, 50))
    assert got.shape == (1, 3, 50, 100)
    assert torch.equal(got[0].permute(1, 2, 0).round().to(torch.uint8), torch.from_numpy(crowd[3:53, 2:102]))
    assert warp_affine(image, [shift, shift], (10, 10)).shape == (2, 3, 10, 10)  # one image, two maps
    with pytest.raises(ValueError, match="float"):
        warp_affine(torch.from_numpy(crowd)[None], [shift], (10, 10))
    with pytest.raises(ValueError, match="maps"):
        warp_affine(image.expand(2, -1, -1, -1), [shift] * 3, (10, 10))
    with pytest.raises(ValueError, match=r"\[2, 3\]"):
        warp_affine(image, [np.eye(3)], (10, 10))
    with pytest.raises(ValueError, match="border"):
        warp_affine(image, [shift], (10, 10), border="wrap")
