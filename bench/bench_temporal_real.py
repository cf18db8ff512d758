"""Temporal blending on real moving faces, through the engine, with two stand-in restorers:

- stable: each crop's unsharp mask; its output at temporal 0 is the ideal video;
- flickering: the same plus a fresh per-face tone offset (+-8) and blurred texture noise every frame.

Errors are PSNR against the ideal in the face regions (pixels the stable restorer changed by more than
2 levels). For each clip (the first 3 s) and for temporal 0 beside the default it prints the stable
restorer's worst frame, the flickering one's mean, and the frames that blending made worse by more
than 0.5 dB (how many, which, and the largest drop), and the seconds the clip took. The crowd cut
holds 4-8 small faces a frame (each enlarged 2-6 times into its crop) whose tracks start and end
inside it; its frames pool the errors of all their faces. ``--variants`` adds motion made from the same clips: mirrored, double speed, the face
half as big, darker. Run: python3 bench/bench_temporal_real.py [--variants] [--frames N] [clip ...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpen_video.config import Settings  # noqa: E402
from tests.helpers.flicker_check import WORSE_DB, Runner, flicker_check  # noqa: E402
from tests.helpers.real_media import video_frames  # noqa: E402

CLIPS = {  # name: (file, frames in its first 3 s)
    "head turns (lp_d3)": ("lp_d3_3s.mp4", 90),
    "glasses (lp_d9)": ("lp_d9_3s.mp4", 90),
    "eyes aside (lp_d14)": ("lp_d14_3s.mp4", 90),
    "talking head": ("talking_head_844.mp4", 75),
    "crowd": ("crowd_1080p.mp4", 30),  # 25 fps: its first 1.2 s (the repository's cut is 2.4 s)
}


def variants(frames: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Other real motion from the same footage."""
    return {
        "mirrored": [np.ascontiguousarray(f[:, ::-1]) for f in frames],
        "double speed": frames[::2],
        "face half size": [cv2.resize(f, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) for f in frames],
        "darker": [np.clip(255.0 * (f / 255.0) ** 1.8, 0, 255).astype(np.uint8) for f in frames],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", help=f"subset of: {', '.join(CLIPS)} (default: all)")
    parser.add_argument("--variants", action="store_true", help="also mirrored, double speed, half size, darker")
    parser.add_argument("--frames", type=int, default=0, help="at most this many frames per clip")
    parser.add_argument("--size", type=int, default=512, help="restorer crop side")
    parser.add_argument("--temporal", type=float, default=Settings().faces.temporal, help="blending strength")
    args = parser.parse_args()
    runner = Runner()
    print(f"temporal 0 vs {args.temporal}, {args.size} px crops, PSNR in the face regions against the ideal")
    print(f"{'clip':36} {'frames':>6} {'stable worst':>12} {'flickering: t=0 -> blended':>28} {'worse':>6} "
          f"{'max drop':>8} {'s':>6}  frames made worse")
    for name in args.clips or CLIPS:
        file, count = CLIPS[name]
        frames = list(video_frames(file, min(count, args.frames or count)))
        clips = {name: frames}
        if args.variants:
            clips.update({f"{name}, {kind}": clip for kind, clip in variants(frames).items()})
        for label, clip in clips.items():
            started = time.perf_counter()
            m = flicker_check(runner, clip, args.temporal, args.size)
            print(f"{label:36} {len(m.flat):6d} {m.stable.min():9.1f} dB {m.flat.mean():9.1f} -> "
                  f"{m.blended.mean():5.1f} dB ({m.gain:+4.1f}) {m.worse:6d} {(m.flat - m.blended).max():+8.2f} "
                  f"{time.perf_counter() - started:6.0f}  {np.flatnonzero(m.blended < m.flat - WORSE_DB).tolist()}",
                  flush=True)


if __name__ == "__main__":
    main()
