"""The stand-in restorers' check of temporal blending on real footage, through the engine: errors are
PSNR against the ideal video (the stable restorer unblended) in the face regions (the pixels that
the stable restorer changed by more than 2 levels)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.faces.detect import build_detector
from gpen_video.faces.verify import CropVerifier
from gpen_video.types import Frame
from tests.helpers.fakes import FlickerRestorer, SharpenRestorer

WORSE_DB = 0.5  # a frame this much worse than unblended counts as made worse


class CachedDetector:
    """A detector remembering its answer per image, so that several runs over a clip detect once."""

    def __init__(self, detector) -> None:
        self.detector, self.seen = detector, {}

    def detect(self, images):
        keys = [hashlib.blake2b(np.ascontiguousarray(im).tobytes(), digest_size=16).digest() for im in images]
        todo = [k for k, key in enumerate(keys) if key not in self.seen]
        if todo:
            for k, found in zip(todo, self.detector.detect([images[k] for k in todo])):
                self.seen[keys[k]] = found
        return [self.seen[key] for key in keys]


class Runner:
    """Runs the engine as built from default settings (detector, verifier) with an injected restorer."""

    def __init__(self) -> None:
        settings = Settings()
        self.detector = CachedDetector(build_detector(settings.faces, device="cpu"))
        self.verifier = CropVerifier(self.detector, min_score=settings.faces.verify_score)

    def run(self, frames, restorer, temporal: float) -> list[np.ndarray]:
        """The enhanced frames, uint8 [H, W, 3] each."""
        settings = Settings()
        settings.faces.temporal = temporal
        engine = Engine(settings, restorer=restorer, detector=self.detector, verifier=self.verifier)
        return [r.enhanced for r in engine.stream([Frame(i, i, Fraction(1, 30), im) for i, im in enumerate(frames)])]


def region_psnr(out: np.ndarray, ideal: np.ndarray, region: np.ndarray) -> float:
    """PSNR (dB, at most 100) of ``out`` against ``ideal`` over the bool [H, W] ``region``."""
    err = out.astype(np.float32)[region] - ideal.astype(np.float32)[region]
    mse = float(np.mean(err * err))
    return 100.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@dataclass
class FlickerCheck:
    """Per frame with a face region, dB against the ideal: the stable restorer blended, the flickering
    one unblended and blended."""

    stable: np.ndarray
    flat: np.ndarray
    blended: np.ndarray

    @property
    def gain(self) -> float:
        """How much blending cut the flickering restorer's error, mean over frames (dB)."""
        return float(self.blended.mean() - self.flat.mean())

    @property
    def worse(self) -> int:
        """Frames that blending made worse by more than ``WORSE_DB``."""
        return int(np.sum(self.blended < self.flat - WORSE_DB))


def flicker_check(runner: Runner, frames, temporal: float, size: int, seed: int = 0) -> FlickerCheck:
    """Run the two stand-ins over ``frames`` at temporal 0 and ``temporal``, restorer crops of ``size``."""
    ideal = runner.run(frames, SharpenRestorer(size=size), 0.0)
    regions = [np.abs(i.astype(np.int16) - f).max(axis=2) > 2 for i, f in zip(ideal, frames)]
    stable = runner.run(frames, SharpenRestorer(size=size), temporal)
    flat = runner.run(frames, FlickerRestorer(size=size, seed=seed), 0.0)
    blended = runner.run(frames, FlickerRestorer(size=size, seed=seed), temporal)
    keep = [k for k, region in enumerate(regions) if region.any()]
    return FlickerCheck(*(np.array([region_psnr(run[k], ideal[k], regions[k]) for k in keep])
                          for run in (stable, flat, blended)))
