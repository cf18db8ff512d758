"""gpen_video.gpu's torch frame ops against the CPU path they would replace, side by side, on one device.

    python3 bench/bench_frame_ops.py [--device cpu|cuda] [--repeats 5]

One 1080p frame of crowd_1080p.mp4 with one 512 px face: alignment crop (cv2.warpAffine vs
grid_sample), paste-back (faces.paste vs gpu.warp), RGB -> YUV 4:2:0 (swscale via PyAV vs
gpu.colour). Prints ms per frame for each and the ratio; the CPU decision in docs/faces.md comes
from these ratios, not from absolute times.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gpen_video.faces.align import align_face  # noqa: E402
from gpen_video.faces.paste import paste_faces  # noqa: E402
from gpen_video.gpu.colour import rgb_to_yuv420  # noqa: E402
from gpen_video.gpu.warp import align_crops  # noqa: E402
from gpen_video.gpu.warp import paste_faces as paste_faces_torch  # noqa: E402
from tests.helpers.real_media import video_frames  # noqa: E402

LANDMARKS = np.float32([[900, 480], [1010, 480], [955, 545], [910, 610], [1000, 610]])


def best_ms(fn, repeats: int, sync) -> float:
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - started)
    return 1000 * min(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    frame = video_frames("crowd_1080p.mp4", 1)[0]
    crop, affine = align_face(frame, LANDMARKS, 512)
    restored = 255 - crop
    on_dev = torch.from_numpy(frame).to(dev)
    crops_dev = torch.from_numpy(restored[None]).to(dev)
    affines_dev = torch.from_numpy(affine[None]).to(dev)
    rows = [
        ("align (1 face, 512)", lambda: align_face(frame, LANDMARKS, 512),
         lambda: align_crops(on_dev, affines_dev, 512)),
        ("paste (1 face)", lambda: paste_faces(frame, [(restored, affine)]),
         lambda: paste_faces_torch(on_dev, crops_dev, [affine])),
        ("RGB -> YUV 4:2:0", lambda: av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="itu709", dst_color_range="MPEG"),
         lambda: rgb_to_yuv420(on_dev[None])),
    ]
    print(f"1080p frame, torch on {dev}, {torch.get_num_threads()} CPU threads; best of {args.repeats}")
    with torch.inference_mode():
        for name, cpu_fn, torch_fn in rows:
            a, b = best_ms(cpu_fn, args.repeats, lambda: None), best_ms(torch_fn, args.repeats, sync)
            print(f"  {name:22s} numpy/cv2/swscale {a:7.2f} ms   torch {b:7.2f} ms   torch/cv2 time x{b / a:.2f}")


if __name__ == "__main__":
    main()
