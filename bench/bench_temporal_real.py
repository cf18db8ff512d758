"""Temporal blending on real moving faces, through the engine, with two stand-in restorers:

- stable: each crop's unsharp mask; its output at temporal 0 is the ideal video;
- flickering: the same plus a fresh per-face tone offset (+-8) and blurred texture noise every frame.

Errors are PSNR against the ideal in the face regions (pixels the stable restorer changed by more than
2 levels). For each clip (the first 3 s) and for temporal 0 beside the default it prints the stable
restorer's worst frame, the flickering one's mean, and the frames that blending made worse by more
than 0.5 dB. ``--variants`` adds motion made from the same clips: mirrored, double speed, the face
half as big, darker. Run: python3 bench/bench_temporal_real.py [--variants] [--frames N] [clip ...]
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpen_video.config import Settings  # noqa: E402
from gpen_video.engine import Engine  # noqa: E402
from gpen_video.faces.detect import build_detector  # noqa: E402
from gpen_video.faces.verify import CropVerifier  # noqa: E402
from gpen_video.types import Frame  # noqa: E402
from tests.helpers.fakes import FlickeringRestorer, UnsharpRestorer  # noqa: E402
from tests.helpers.real_media import video_frames  # noqa: E402

CLIPS = {  # name: (file, frames in its first 3 s)
    "head turns (lp_d3)": ("lp_d3_3s.mp4", 90),
    "glasses (lp_d9)": ("lp_d9_3s.mp4", 90),
    "eyes aside (lp_d14)": ("lp_d14_3s.mp4", 90),
    "talking head": ("talking_head_844.mp4", 75),
    "crowd": ("crowd_1080p.mp4", 30),
}
WORSE_DB = 0.5


class CachedDetector:
    """The run's detector, remembering its answer per image: the four runs of a clip detect once."""

    def __init__(self, detector) -> None:
        self.detector, self.seen = detector, {}

    def detect(self, images):
        keys = [hashlib.blake2b(np.ascontiguousarray(im).tobytes(), digest_size=16).digest() for im in images]
        todo = [k for k, key in enumerate(keys) if key not in self.seen]
        if todo:
            for k, found in zip(todo, self.detector.detect([images[k] for k in todo])):
                self.seen[keys[k]] = found
        return [self.seen[key] for key in keys]


def variants(frames: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Other real motion from the same footage."""
    return {
        "mirrored": [np.ascontiguousarray(f[:, ::-1]) for f in frames],
        "double speed": frames[::2],
        "face half size": [cv2.resize(f, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) for f in frames],
        "darker": [np.clip(255.0 * (f / 255.0) ** 1.8, 0, 255).astype(np.uint8) for f in frames],
    }


def run(frames, restorer, temporal: float, detector, verifier) -> list[np.ndarray]:
    settings = Settings()
    settings.faces.temporal = temporal
    engine = Engine(settings, restorer=restorer, detector=detector, verifier=verifier)
    stream = [Frame(i, i, Fraction(1, 30), im) for i, im in enumerate(frames)]
    return [r.enhanced for r in engine.stream(stream)]


def region_psnr(out: np.ndarray, ideal: np.ndarray, region: np.ndarray) -> float:
    if not region.any():
        return float("nan")
    err = out.astype(np.float32)[region] - ideal.astype(np.float32)[region]
    mse = float(np.mean(err * err))
    return 100.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def measure(frames, temporal: float, size: int, detector, verifier) -> dict:
    ideal = run(frames, UnsharpRestorer(size=size), 0.0, detector, verifier)
    regions = [np.abs(i.astype(np.int16) - f).max(axis=2) > 2 for i, f in zip(ideal, frames)]
    started = time.perf_counter()
    stable = run(frames, UnsharpRestorer(size=size), temporal, detector, verifier)
    flat = run(frames, FlickeringRestorer(size=size), 0.0, detector, verifier)
    blended = run(frames, FlickeringRestorer(size=size), temporal, detector, verifier)
    seconds = time.perf_counter() - started
    keep = [k for k, r in enumerate(regions) if r.any()]
    stable_db = np.array([region_psnr(stable[k], ideal[k], regions[k]) for k in keep])
    flat_db = np.array([region_psnr(flat[k], ideal[k], regions[k]) for k in keep])
    blend_db = np.array([region_psnr(blended[k], ideal[k], regions[k]) for k in keep])
    return {
        "frames": len(keep), "stable_worst": stable_db.min(), "flat": flat_db.mean(), "blended": blend_db.mean(),
        "worse": int(np.sum(blend_db < flat_db - WORSE_DB)), "worst_drop": float((flat_db - blend_db).max()),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", help=f"subset of: {', '.join(CLIPS)} (default: all)")
    parser.add_argument("--variants", action="store_true", help="also mirrored, double speed, half size, darker")
    parser.add_argument("--frames", type=int, default=0, help="at most this many frames per clip")
    parser.add_argument("--size", type=int, default=512, help="restorer crop side")
    parser.add_argument("--temporal", type=float, default=Settings().faces.temporal, help="blending strength")
    args = parser.parse_args()
    settings = Settings()
    detector = CachedDetector(build_detector(settings.faces, device="cpu"))
    verifier = CropVerifier(detector, min_score=settings.faces.verify_score)
    print(f"temporal 0 vs {args.temporal}, {args.size} px crops, PSNR in the face regions against the ideal")
    print(f"{'clip':36} {'frames':>6} {'stable worst':>12} {'flickering: t=0 -> blended':>28} {'worse':>6} "
          f"{'max drop':>8}")
    for name in args.clips or CLIPS:
        file, count = CLIPS[name]
        frames = list(video_frames(file, min(count, args.frames or count)))
        clips = {name: frames}
        if args.variants:
            clips.update({f"{name}, {kind}": clip for kind, clip in variants(frames).items()})
        for label, clip in clips.items():
            m = measure(clip, args.temporal, args.size, detector, verifier)
            gain = m["blended"] - m["flat"]
            print(f"{label:36} {m['frames']:6d} {m['stable_worst']:9.1f} dB {m['flat']:9.1f} -> {m['blended']:5.1f} dB "
                  f"({gain:+4.1f}) {m['worse']:6d} {m['worst_drop']:+8.2f}", flush=True)


if __name__ == "__main__":
    main()
