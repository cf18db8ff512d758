"""The embedded RetinaFace on onnxruntime vs torch, side by side on this machine's CPU (or torch on CUDA):
ms per frame on crowd_1080p.mp4 at det_size 640, whole detect() calls (resize, network, NMS),
interleaved rounds so both see the same load; and how far apart their detections are.

Run: python3 bench/bench_detector_backends.py [--device cuda:0] [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpen_video.faces.detect import RetinaFaceOnnx, RetinaFaceTorch
from tests.helpers.real_media import video_frames


def _ms_per_frame(detector, frames: list[np.ndarray], batch: int) -> float:
    start = time.perf_counter()
    for k in range(0, len(frames), batch):
        detector.detect(frames[k : k + batch])
    return (time.perf_counter() - start) * 1000 / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu", help="torch detector's device")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--flush-denormal", action="store_true",
                    help="flush denormal floats to zero in this thread (torch on the CPU slows down on them)")
    args = ap.parse_args()
    if args.flush_denormal:
        import torch

        torch.set_flush_denormal(True)
    frames = list(video_frames("crowd_1080p.mp4", 16))
    onnx, torch_det = RetinaFaceOnnx(det_size=640), RetinaFaceTorch(det_size=640, device=args.device)
    worst = 0.0
    for a, b in zip(onnx.detect(frames), torch_det.detect(frames)):  # also the warm-up
        assert len(a) == len(b)
        worst = max([worst, *(float(np.abs(p.landmarks - q.landmarks).max()) for p, q in zip(a, b))])
    print(f"crowd 1080p, det_size 640, 16 frames: landmarks within {worst:.4f} px of onnxruntime's")
    for batch in (1, 8):
        times: dict[str, list[float]] = {"onnxruntime": [], f"torch {args.device}": []}
        for _ in range(args.rounds):
            for (name, runs), det in zip(times.items(), (onnx, torch_det)):
                runs.append(_ms_per_frame(det, frames, batch))
        (on, ont), (tn, tt) = times.items()
        ratio = statistics.median(tt) / statistics.median(ont)
        print(f"batch {batch}: {on} median {statistics.median(ont):.1f} ms/frame (min {min(ont):.1f}), "
              f"{tn} median {statistics.median(tt):.1f} (min {min(tt):.1f}): torch/onnxruntime x{ratio:.2f}")


if __name__ == "__main__":
    main()
