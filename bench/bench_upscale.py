"""Upscaling costs, measured side by side in one run.

    python3 bench/bench_upscale.py [--device cpu|cuda] [--input 96] [--seconds 1.0] [--width 384]
    python3 bench/bench_upscale.py --memory [--frames 6]      # a 3840x2160 clip at x2: max RSS

1. Each background upsampler's cost in ms per output megapixel: Lanczos, and each spandrel network with
   random weights in its real shape (Real-ESRGAN x2plus / x4plus; GPEN's RealESRNet x2 / x4 have the
   same architectures, so the same cost), on a real frame crop of ``--input`` px, at output scale 2.
2. End to end: a cut of the talking-head clip through ``enhance_video`` with ``upscale`` 1 and 2
   (restorer none, Lanczos background), frames/s and the stage seconds of each.
3. ``--memory``: a 3840x2160 clip (the crowd clip enlarged, looped) enhanced at x2, each run in its own
   process, for ``--frames``, twice and four times as many frames: the maximum RSS must not grow with
   the length.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gpen_video.config import build_settings  # noqa: E402
from gpen_video.job import enhance_video  # noqa: E402
from gpen_video.upscale.lanczos import LanczosUpsampler  # noqa: E402
from gpen_video.upscale.spandrel_sr import SpandrelUpsampler, load_sr_model  # noqa: E402
from tests.helpers.paths import DATA  # noqa: E402
from tests.helpers.real_media import cut_clip, video_frames  # noqa: E402

# Real-ESRGAN's published shapes: 64 filters, 23 blocks; x2plus is the x4 network behind a pixel unshuffle.
NETWORKS = {"realesrgan-x4 / realesrnet-x4": dict(scale=4), "realesrgan-x2 / realesrnet-x2": dict(scale=4, in_nc=12,
                                                                                                   shuffle_factor=2)}


def _ms_per_output_mp(upsampler, frame: np.ndarray, repeats: int) -> float:
    upsampler.upscale([frame])  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        (out,) = upsampler.upscale([frame])
    seconds = (time.perf_counter() - started) / repeats
    return 1000 * seconds / (out.shape[0] * out.shape[1] / 1e6)


def upsamplers(device: str, side: int, folder: Path) -> None:
    from spandrel.architectures.ESRGAN import ESRGAN

    frame = np.ascontiguousarray(video_frames("talking_head_844.mp4", 1)[0][200:200 + side, 250:250 + side])
    print(f"upsampler cost, x2 output, {side}x{side} input on {device} (ms per output megapixel)")
    rows = {"lanczos": _ms_per_output_mp(LanczosUpsampler(2), frame, 20)}
    for name, shape in NETWORKS.items():
        torch.manual_seed(0)
        path = folder / f"{name.split()[0]}.pth"
        torch.save(ESRGAN(num_filters=64, num_blocks=23, **shape).state_dict(), path)
        upsampler = SpandrelUpsampler(load_sr_model(path), scale=2, device=device, tile=0)
        rows[f"{name} ({upsampler.precision})"] = _ms_per_output_mp(upsampler, frame, 1 if device == "cpu" else 10)
    base = rows["lanczos"]
    for name, ms in rows.items():
        print(f"  {name:44s} {ms:12.1f} ms/MP   x{ms / base:10.0f} lanczos")


def end_to_end(seconds: float, width: int, folder: Path) -> None:
    clip = cut_clip(DATA / "talking_head_844.mp4", folder / "clip.mp4", seconds=seconds, width=width)
    print(f"end to end, {width}x{width} talking head, {seconds:g} s, restorer none, Lanczos background")
    results = {}
    for scale in (1, 2):
        settings = build_settings(None, {"restore": {"restorer": "none"}, "upscale": {"scale": scale},
                                         "encode": {"preset": "veryfast"}})
        started = time.perf_counter()
        result = enhance_video(clip, folder / f"x{scale}.mp4", settings, overwrite=True)
        wall = time.perf_counter() - started
        results[scale] = (result.stats.frames / wall, result.stats.stage_seconds)
    for scale, (fps, stages) in results.items():
        parts = ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
        print(f"  upscale {scale}: {fps:6.2f} fps   stage seconds: {parts}")
    print(f"  upscale 2 / upscale 1 throughput: {results[2][0] / results[1][0]:.2f}")


def _memory_child(clip: Path, frames: int, output: Path) -> None:
    settings = build_settings(None, {"restore": {"restorer": "none"}, "upscale": {"scale": 2},
                                     "encode": {"preset": "ultrafast"}})
    started = time.perf_counter()
    result = enhance_video(clip, output, settings, end=frames / 25 - 0.001, overwrite=True)
    print(json.dumps({"frames": result.stats.frames, "seconds": time.perf_counter() - started,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "stage_seconds": dict(result.stats.stage_seconds)}))


def _uhd_clip(dest: Path, frames: int) -> Path:
    """``frames`` frames of the crowd clip enlarged to 3840x2160, played forwards and backwards as needed."""
    import av
    import cv2

    source = video_frames("crowd_1080p.mp4", 60)
    order = [k % 120 if k % 120 < 60 else 119 - k % 120 for k in range(frames)]
    with av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 3840, 2160, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i, k in enumerate(order):
            image = cv2.resize(source[k], (3840, 2160), interpolation=cv2.INTER_LINEAR)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dest


def memory(frames: int, folder: Path) -> None:
    clip = _uhd_clip(folder / "uhd.mp4", 4 * frames)
    print("3840x2160 at x2 (7680x4320 out), restorer none, Lanczos, each run in a fresh process")
    for count in (frames, 2 * frames, 4 * frames):
        run = subprocess.run([sys.executable, __file__, "--child", str(clip), str(count), str(folder / "out.mp4")],
                             capture_output=True, text=True, check=True)
        row = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"  {row['frames']:3d} frames: max RSS {row['max_rss_mb']:7.0f} MB, {row['seconds']:.1f} s, "
              f"stages {', '.join(f'{k} {v:.1f}' for k, v in row['stage_seconds'].items())}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _memory_child(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--input", type=int, default=96, help="side of the crop the upsamplers enlarge")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-upscale-") as folder:
        if args.memory:
            memory(args.frames, Path(folder))
            return
        upsamplers(args.device, args.input, Path(folder))
        end_to_end(args.seconds, args.width, Path(folder))


if __name__ == "__main__":
    main()
