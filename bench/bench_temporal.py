"""Cost of temporal blending: ms per face at a 512 crop on this CPU, the blender before issue 18
(whole crop, 4x-downscaled motion test; loaded from git) beside the current one (residual, face
region, optical flow). Run: python3 bench/bench_temporal.py"""
from __future__ import annotations

import subprocess
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpen_video.faces.align import align_face, gpen_template  # noqa: E402
from gpen_video.faces.detect import RetinaFaceOnnx  # noqa: E402
from gpen_video.faces.temporal import TemporalBlender  # noqa: E402
from tests.helpers.real_media import video_frames  # noqa: E402

BEFORE = "6921f17"  # the last commit with the whole-crop blender
SIZE = 512


def _old_blender_class() -> type:
    source = subprocess.run(["git", "show", f"{BEFORE}:gpen_video/faces/temporal.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("temporal_before")
    exec(compile(source, "temporal_before.py", "exec"), module.__dict__)  # noqa: S102 - our own file
    return module.TemporalBlender


def _ms_per_face(blend, sources, restored, repeats=3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for k, (source, crop) in enumerate(zip(sources, restored)):
            blend(k, source, crop)
        best = min(best, (time.perf_counter() - started) / len(sources))
    return best * 1000


def main() -> None:
    cv2.setNumThreads(1)
    frames = video_frames("talking_head_844.mp4", 30)
    detections = RetinaFaceOnnx(det_size=320).detect(list(frames))
    sources = [align_face(f, d[0].landmarks, SIZE)[0] for f, d in zip(frames, detections)]
    rng = np.random.default_rng(0)
    restored = [np.clip(c + rng.normal(0, 6, c.shape), 0, 255).astype(np.uint8) for c in sources]
    landmarks = gpen_template(SIZE)
    old, new = _old_blender_class()(0.7), TemporalBlender(0.7)
    old_ms = _ms_per_face(lambda k, source, crop: old.blend(0, crop), sources, restored)
    new_ms = _ms_per_face(lambda k, source, crop: new.blend(0, source, crop, landmarks), sources, restored)
    print(f"temporal blending, {SIZE} px crop, one thread, ms per face:")
    print(f"  before (whole crop)              {old_ms:6.2f}")
    print(f"  now (residual, flow, face only)  {new_ms:6.2f}   ({new_ms / old_ms:.1f}x)")


if __name__ == "__main__":
    main()
