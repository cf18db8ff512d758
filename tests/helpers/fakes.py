"""Stand-ins for the detector and the restorer, and a tiny random-weight GPEN checkpoint."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from gpen_video.faces.align import gpen_template
from gpen_video.restore import PassthroughRestorer
from gpen_video.types import Detection


class FixedDetector:
    """Finds one face in every image: GPEN's template landmarks scaled into a ``side`` px box at
    ``(x, y)``, score 0.99. Counts the images it was given in ``calls``."""

    def __init__(self, side: int = 96, x: int = 40, y: int = 30) -> None:
        self.calls = 0
        self.landmarks = gpen_template(side) + np.float32([x, y])
        self.box = np.float32([x, y, x + side, y + side])

    def detect(self, images):
        self.calls += len(images)
        return [[Detection(self.box, 0.99, self.landmarks)] for _ in images]


class RecordingRestorer(PassthroughRestorer):
    """Pass-through at ``size`` px that records batch sizes, optionally inverts colours or fails."""

    def __init__(self, *, size: int = 128, invert: bool = False, fail_after: int | None = None) -> None:
        super().__init__(size=size)
        self.batches: list[int] = []
        self.invert, self.fail_after = invert, fail_after

    def submit(self, crops, tag=None):
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            raise RuntimeError("restorer exploded")
        self.batches.append(len(crops))
        super().submit(255 - crops if self.invert else crops, tag)


class SlowRestorer(PassthroughRestorer):
    """Pass-through that takes ``seconds`` per batch of one: processing slower than the source."""

    def __init__(self, seconds: float, size: int = 128) -> None:
        super().__init__(size=size, batch_size=1)
        self.seconds = seconds

    def submit(self, crops, tag=None):
        time.sleep(self.seconds)
        super().submit(crops, tag)


class UnsharpRestorer(PassthroughRestorer):
    """A steady restorer whose change follows the content: each crop's unsharp mask,
    ``2 crop - GaussianBlur(crop, sigma=2)``."""

    def restore(self, crops):
        return np.clip(np.rint(np.stack([unsharp(c) for c in crops])), 0, 255).astype(np.uint8)


def unsharp(crop: np.ndarray) -> np.ndarray:
    """float32 [S, S, 3] ``2 crop - GaussianBlur(crop, sigma=2)`` of a uint8 crop, unclipped."""
    level = crop.astype(np.float32)
    return 2.0 * level - cv2.GaussianBlur(level, (0, 0), 2.0)


class FlickeringRestorer(PassthroughRestorer):
    """The unsharp mask plus what a GAN restorer invents anew on every frame (seeded): a per-face tone
    offset uniform in +-8 levels, and texture noise N(0, 6) per pixel blurred with sigma 1, times 2."""

    def __init__(self, size: int = 512, seed: int = 0) -> None:
        super().__init__(size=size)
        self.rng = np.random.default_rng(seed)

    def restore(self, crops):
        out = []
        for crop in crops:
            sharp = unsharp(crop)
            noise = cv2.GaussianBlur(self.rng.normal(0.0, 6.0, crop.shape).astype(np.float32), (0, 0), 1.0)
            out.append(sharp + np.float32(self.rng.uniform(-8.0, 8.0)) + 2.0 * noise)
        return np.clip(np.rint(np.stack(out)), 0, 255).astype(np.uint8)


def tiny_gpen():
    """A seeded random-weight GPEN at 64 px (eval mode, CPU): it invents texture and colour."""
    import torch

    from gpen_video.models.gpen import build_gpen

    torch.manual_seed(0)
    return build_gpen(64, channel_multiplier=1, narrow=0.25, style_dim=64, n_mlp=2).eval()


def save_tiny_gpen(path: Path, *, wrapped: bool = False) -> Path:
    """``tiny_gpen()`` saved bare, or wrapped the way official files are (``g_ema`` with a
    ``module.`` prefix). Returns ``path``."""
    import torch

    state = tiny_gpen().state_dict()
    torch.save({"g_ema": {f"module.{k}": v for k, v in state.items()}} if wrapped else state, path)
    return path


def save_tiny_sr(path: Path, *, scale: int = 2) -> Path:
    """A seeded random-weight ESRGAN (8 filters, 1 block) built by spandrel's own architecture, saved
    as a plain state dict that spandrel recognises. Returns ``path``."""
    import torch
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    torch.save(ESRGAN(num_filters=8, num_blocks=1, scale=scale).state_dict(), path)
    return path
