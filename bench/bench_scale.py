"""Batch scaling: throughput of `gpen-video batch` with 1 and with 2 local workers on the same inputs.

    python3 bench/bench_scale.py [--clips 4] [--seconds 2] [--width 384] [--restorer none|tiny]
                                 [--segment-seconds S] [--ray ADDRESS]

Cuts ``--clips`` clips from the real media in tests/data, then runs the whole batch (fresh output folder, worker
start-up included) with 1 worker and with 2, side by side, and prints frames/s and the scaling
efficiency ``(fps with 2) / (2 x fps with 1)``. ``--restorer tiny`` uses a random 64 px GPEN so the
restorer costs something without downloading weights. With ``--ray ADDRESS`` the same runs go to a
Ray cluster instead of local processes.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpen_video.batch import BatchOptions, run_batch  # noqa: E402
from gpen_video.config import build_settings  # noqa: E402
from tests.helpers.fakes import save_tiny_gpen  # noqa: E402
from tests.helpers.paths import DATA  # noqa: E402
from tests.helpers.real_media import cut_clip  # noqa: E402

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--restorer", choices=("none", "tiny"), default="none")
    parser.add_argument("--segment-seconds", type=float, default=300.0)
    parser.add_argument("--ray", default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        inputs = work / "in"
        inputs.mkdir()
        sources = [DATA / "talking_head_844.mp4", DATA / "crowd_1080p.mp4"]
        for k in range(args.clips):
            cut_clip(sources[k % 2], inputs / f"clip{k}.mp4", start=0.5 * (k // 2), seconds=args.seconds,
                     width=args.width, gop=10)
        overrides = {"restore": {"restorer": args.restorer if args.restorer == "none" else "gpen"},
                     "encode": {"preset": "veryfast"}}
        if args.restorer == "tiny":
            weights = save_tiny_gpen(work / "tiny.pth")
            overrides["restore"].update(weights=str(weights), device="cpu")
        settings = build_settings(None, overrides)

        rows = []
        for workers in (1, 2):
            out = work / f"out{workers}"
            options = BatchOptions(out_dir=out, ray=args.ray, workers=workers, segment_seconds=args.segment_seconds)
            began = time.perf_counter()
            result = run_batch([inputs], settings, options)
            seconds = time.perf_counter() - began
            assert not result.failed, [r.error for r in result.failed]
            frames = sum(u.frames for r in result.inputs for u in r.units)
            rows.append((workers, frames, seconds, frames / seconds))
        print(f"inputs: {args.clips} clips x {args.seconds} s at {args.width} px, restorer {args.restorer}, "
              f"executor {'ray ' + args.ray if args.ray else 'local processes'}")
        print(f"{'workers':>8} {'frames':>7} {'seconds':>8} {'fps':>7}")
        for workers, frames, seconds, fps in rows:
            print(f"{workers:>8} {frames:>7} {seconds:>8.2f} {fps:>7.2f}")
        speedup = rows[1][3] / rows[0][3]
        print(f"speed-up with 2 workers: {speedup:.2f}x, scaling efficiency {speedup / 2:.0%}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
