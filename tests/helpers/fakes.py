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


class SharpenRestorer(PassthroughRestorer):
    """A stable stand-in for GPEN: a deterministic unsharp mask of each crop, ``2 crop - GaussianBlur(crop, 2)``.

    The same crop always gives the same face, so it adds no flicker of its own.
    """

    def __init__(self, *, size: int = 512, batch_size: int = 4) -> None:
        super().__init__(size=size, batch_size=batch_size)

    def sharpen(self, crop: np.ndarray) -> np.ndarray:
        """float32 [S, S, 3]: the unsharp mask of a uint8 [S, S, 3] crop, not rounded or clipped."""
        pixels = crop.astype(np.float32)
        return 2.0 * pixels - cv2.GaussianBlur(pixels, (0, 0), sigmaX=2.0)

    def submit(self, crops, tag=None):
        super().submit(np.stack([_to_uint8(self.sharpen(crop)) for crop in crops]), tag)


class FlickerRestorer(SharpenRestorer):
    """``SharpenRestorer`` plus what a GAN restorer invents anew on every frame: a tone offset per face,
    uniform in +-``tone`` levels, and texture noise N(0, ``noise``) per pixel, blurred with sigma 1, times 2.
    Seeded: the same run gives the same flicker."""

    def __init__(self, *, size: int = 512, batch_size: int = 4, tone: float = 8.0, noise: float = 6.0,
                 seed: int = 0) -> None:
        super().__init__(size=size, batch_size=batch_size)
        self.tone, self.noise = tone, noise
        self.rng = np.random.default_rng(seed)

    def submit(self, crops, tag=None):
        out = []
        for crop in crops:
            texture = cv2.GaussianBlur(self.rng.normal(0.0, self.noise, crop.shape).astype(np.float32), (0, 0),
                                       sigmaX=1.0)
            out.append(_to_uint8(self.sharpen(crop) + np.float32(self.rng.uniform(-self.tone, self.tone)) + 2 * texture))
        PassthroughRestorer.submit(self, np.stack(out), tag)


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


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
