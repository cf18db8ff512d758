"""The embedded RetinaFace as a torch module (``retina_torch``), its device-side batch preparation
(``retina_prep``) and ``RetinaFaceTorch``, against the onnxruntime session on the real media."""
import cv2
import numpy as np
import pytest
import torch

from gpen_video.models import device as device_mod
from gpen_video.config import FaceSettings
from gpen_video.errors import InputError, WeightsError
from gpen_video.faces import detect, retina
from gpen_video.faces.detect import RetinaFaceOnnx, RetinaFaceTorch, build_detector
from gpen_video.faces.retina_prep import area_resize, prepare_batch_torch
from gpen_video.faces.retina_torch import (
    RetinaFaceMobile,
    embedded_retinaface,
    load_onnx_weights,
)
from tests.helpers.real_media import solvay, video_frames

# Detections of the two backends must agree this closely (frame pixels; face probability).
MAX_PX, MAX_SCORE = 0.5, 1e-3


def _media() -> dict[str, list[np.ndarray]]:
    """Real frames: two of the 1080p crowd (7 faces each), the talking head (844x844, a non-integer
    shrink to 640) and Solvay (1328x568, 24 faces at 640)."""
    return {"crowd": list(video_frames("crowd_1080p.mp4", 2)), "head": list(video_frames("talking_head_844.mp4", 1)),
            "solvay": [solvay()]}


@pytest.fixture(scope="module")
def onnx_detector():
    return RetinaFaceOnnx(det_size=640)


@pytest.fixture(scope="module")
def onnx_results(onnx_detector):
    """onnxruntime's detections on ``_media()``, by name."""
    return {name: onnx_detector.detect(frames) for name, frames in _media().items()}


@pytest.fixture(scope="module")
def torch_detector():
    return RetinaFaceTorch(det_size=640)


def _assert_same_detections(expected, got):
    assert [len(r) for r in got] == [len(r) for r in expected]
    assert sum(len(r) for r in expected) > 0
    for a_list, b_list in zip(expected, got):
        for a, b in zip(a_list, b_list):
            assert np.abs(a.box - b.box).max() <= MAX_PX
            assert np.abs(a.landmarks - b.landmarks).max() <= MAX_PX
            assert abs(a.score - b.score) <= MAX_SCORE


def test_raw_outputs_match_the_onnx_session(onnx_detector, torch_detector):
    for name, frames in _media().items():
        sizes = [retina.detection_size(*f.shape[:2], 640) for f in frames]
        batch = retina.prepare_batch(frames, sizes)
        theirs, ours = onnx_detector._forward(batch), torch_detector._forward(batch)
        for what, a, b, tol in zip(("loc", "score", "landmarks"), theirs, ours, (1e-3, 1e-4, 1e-3)):
            assert a.shape == b.shape
            diff = float(np.abs(a - b).max())
            print(f"{name} {what}: max |torch - onnx| {diff:.2e}")  # measured: 3e-5, 2e-6, 5e-5
            assert diff < tol, (name, what, diff)


@pytest.mark.parametrize("prepare_on_device", [False, True])
def test_detections_match_onnxruntime(onnx_results, prepare_on_device):
    # prepare_on_device=True runs the CUDA path's resize and packing (retina_prep) on the CPU.
    ours = RetinaFaceTorch(det_size=640, prepare_on_device=prepare_on_device)
    for name, frames in _media().items():
        _assert_same_detections(onnx_results[name], ours.detect(frames))


def test_device_preparation_matches_prepare_batch():
    for name, frames in _media().items():
        sizes = [retina.detection_size(*f.shape[:2], 640) for f in frames]
        expected = retina.prepare_batch(frames, sizes)
        got = prepare_batch_torch(torch.from_numpy(np.stack(frames)), sizes).numpy()
        assert got.shape == expected.shape
        diff = np.abs(got - expected)
        # OpenCV's and our rounding differ on a few pixels by one level; the padding is exact.
        assert diff.max() <= 1.0 and diff.mean() < 1e-3, (name, diff.max(), diff.mean())


def test_area_resize_is_opencv_inter_area_and_only_shrinks():
    image = solvay()[:301, :517]  # odd sizes, non-integer factors
    for size in [(100, 172), (301, 200), (37, 517)]:
        expected = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA).astype(np.float32)
        got = area_resize(torch.from_numpy(image), size).numpy()
        assert got.shape == expected.shape and np.abs(got - expected).max() <= 1.0
        assert (got != expected).mean() < 1e-3
    assert torch.equal(area_resize(torch.from_numpy(image), (301, 517)), torch.from_numpy(image).float())
    with pytest.raises(ValueError):
        area_resize(torch.from_numpy(image), (302, 517))


def test_mixed_frame_sizes_in_one_batch(onnx_results, torch_detector):
    frames = [video_frames("talking_head_844.mp4", 1)[0], solvay()]
    _assert_same_detections(onnx_results["head"] + onnx_results["solvay"], torch_detector.detect(frames))


def test_detect_tensor_matches_detect(onnx_results, torch_detector):
    frames = video_frames("crowd_1080p.mp4", 2)
    _assert_same_detections(onnx_results["crowd"], torch_detector.detect_tensor(torch.from_numpy(np.stack(frames))))
    with pytest.raises(InputError):
        torch_detector.detect_tensor(torch.zeros(1, 64, 64, 3))  # float, not uint8
    with pytest.raises(InputError):
        torch_detector.detect([np.zeros((64, 64), np.uint8)])


def test_loader_checks_the_architecture():
    graph = retina.embedded_graph()
    strided = RetinaFaceMobile()
    strided.fx.stage1[1][0][0].stride = (2, 2)  # the graph's is 1
    with pytest.raises(WeightsError, match="stride"):
        load_onnx_weights(strided, graph)
    sloped = RetinaFaceMobile()
    sloped.fpn.merge1[2].negative_slope = 0.2
    with pytest.raises(WeightsError, match="slope"):
        load_onnx_weights(sloped, graph)
    widened = RetinaFaceMobile()
    widened.ssh2.conv3X3[0] = torch.nn.Conv2d(64, 48, 3, 1, 1)
    with pytest.raises(WeightsError, match="does not fit"):
        load_onnx_weights(widened, graph)
    net = embedded_retinaface()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 56  # 59 in the graph, 3 repeats
    assert not any(p.requires_grad for p in net.parameters())


def _record(monkeypatch):
    """Replace both embedded backends by recorders of (backend, device)."""
    made: list[tuple[str, str]] = []
    monkeypatch.setattr(detect, "RetinaFaceOnnx", lambda **kw: made.append(("onnx", kw["device"])) or "onnx")
    monkeypatch.setattr(detect, "RetinaFaceTorch", lambda **kw: made.append(("torch", kw["device"])) or "torch")
    return made


@pytest.mark.parametrize("ort_cuda", [False, True])
def test_build_detector_picks_the_backend(monkeypatch, ort_cuda):
    made = _record(monkeypatch)
    monkeypatch.setattr(device_mod, "onnx_has_cuda", lambda: ort_cuda)
    build_detector(FaceSettings(), device="cpu")
    build_detector(FaceSettings(), device="cuda:1")
    build_detector(FaceSettings(detector="retinaface-torch"), device="cpu")
    build_detector(FaceSettings(detector="retinaface-onnx"), device="cuda:1")
    cuda_choice = "onnx" if ort_cuda else "torch"  # onnxruntime without CUDA would detect on the CPU
    assert made == [("onnx", "cpu"), (cuda_choice, "cuda:1"), ("torch", "cpu"), ("onnx", "cuda:1")]


def test_build_detector_retinaface_torch_is_real():
    det = build_detector(FaceSettings(detector="retinaface-torch", det_size=320, keep_threshold=0.6))
    assert isinstance(det, RetinaFaceTorch) and det.det_size == 320 and det.score_threshold == 0.6
    assert str(det.device) == "cpu" and not det.prepare_on_device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_detections_match_onnxruntime(onnx_results):
    ours = RetinaFaceTorch(det_size=640, device="cuda")
    assert ours.prepare_on_device
    for name, frames in _media().items():
        _assert_same_detections(onnx_results[name], ours.detect(frames))
        on_device = torch.from_numpy(frames[0]).cuda()[None]
        _assert_same_detections(onnx_results[name][:1], ours.detect_tensor(on_device))
