"""Cost of temporal blending: ms per face at a 512 crop on this machine, beside the restorer's own time
per face (GPEN-BFR-512, random weights, torch on the CPU), all measured in one run. Shows the blender
before the two-band rewrite (one band, face ellipse, DIS flow; loaded from git) beside the current one.
Run: python3 bench/bench_temporal.py
"""
from __future__ import annotations

import subprocess
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpen_video.faces.align import align_face, gpen_template  # noqa: E402
from gpen_video.faces.detect import RetinaFaceOnnx  # noqa: E402
from gpen_video.faces.temporal import TemporalBlender  # noqa: E402
from gpen_video.models.weights import REGISTRY  # noqa: E402
from gpen_video.restore import GpenRestorer  # noqa: E402
from tests.helpers.real_media import video_frames  # noqa: E402

BEFORE = "aa7d09f"  # the last commit with the one-band, face-ellipse blender
SIZE = 512


def _old_blender_class() -> type:
    source = subprocess.run(["git", "show", f"{BEFORE}:gpen_video/faces/temporal.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("temporal_before")
    exec(compile(source, "temporal_before.py", "exec"), module.__dict__)  # noqa: S102 - our own file
    return module.TemporalBlender


def _ms_per_face(blender, sources, restored, *extra, repeats=3) -> float:
    """Best of ``repeats`` mean ms per ``blender.blend(0, source, crop, *extra)`` (the blender before this one
    also took the face's landmarks)."""
    best = float("inf")
    for _ in range(repeats):
        blender.reset()
        started = time.perf_counter()
        for source, crop in zip(sources, restored):
            blender.blend(0, source, crop, *extra)
        best = min(best, (time.perf_counter() - started) / len(sources))
    return best * 1000


def _restorer_ms_per_face(crops: np.ndarray, repeats=2) -> float:
    torch.manual_seed(0)
    restorer = GpenRestorer(REGISTRY[f"GPEN-BFR-{SIZE}"].config.build(), device="cpu", batch_size=len(crops))
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        restorer.restore(crops)
        best = min(best, (time.perf_counter() - started) / len(crops))
    return best * 1000


def main() -> None:
    cv2.setNumThreads(1)  # blending runs in the paste stage's one thread
    frames = video_frames("lp_d9_3s.mp4", 30)  # a moving face behind glasses
    detections = RetinaFaceOnnx(det_size=320).detect(list(frames))
    sources = [align_face(f, d[0].landmarks, SIZE)[0] for f, d in zip(frames, detections)]
    rng = np.random.default_rng(0)
    restored = [np.clip(c + rng.normal(0, 6, c.shape), 0, 255).astype(np.uint8) for c in sources]
    old_ms = _ms_per_face(_old_blender_class()(0.85), sources, restored, gpen_template(SIZE))
    new_ms = _ms_per_face(TemporalBlender(0.85), sources, restored)
    gpen_ms = _restorer_ms_per_face(np.stack(sources[:4]))
    print(f"{SIZE} px crops, ms per face; blending on one thread, GPEN on torch's {torch.get_num_threads()}:")
    print(f"  GPEN-BFR-{SIZE} restore (batch 4)          {gpen_ms:8.1f}")
    print(f"  blending before (one band, face only)   {old_ms:8.2f}   ({old_ms / gpen_ms:.1%} of the restorer)")
    print(f"  blending now (three bands, whole crop)  {new_ms:8.2f}   ({new_ms / gpen_ms:.1%} of the restorer,"
          f" {new_ms / old_ms:.2f}x before)")


if __name__ == "__main__":
    main()
