"""Stand-ins for the detector and the restorer, and a tiny random-weight GPEN checkpoint."""
from __future__ import annotations

import time
from pathlib import Path

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
