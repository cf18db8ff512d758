"""Live mode benchmark: sustained fps and capture-to-output latency at a 640x480 source with one face,
without and with the virtual camera path, side by side in one run.

The source is talking_head_844.mp4 scaled to 640x640 and cropped to 640x480, played at its
real-time rate (25 fps) as a fake camera, headless, no recording. GPEN uses random weights of the
registry's layouts (speed does not depend on the weights). Settings are configs/webcam.toml plus the
model and the in-flight limit; the table prints them next to the numbers. With the camera on, a
stand-in device takes the frames at 25 fps and does what pyvirtualcam's v4l2loopback backend does
with each one (RGB to I420); "cam p50/p95" is capture to the frame's first hand-over to the camera,
the other latency columns capture to the hand-out in the run loop (window/recorder).

    python3 bench/bench_live.py                       # GPEN-BFR-256 (+512 on CUDA), camera off and on
    python3 bench/bench_live.py --models GPEN-BFR-256 GPEN-BFR-512 --in-flight 1 2 --loops 2
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpen_video.config import build_settings  # noqa: E402
from gpen_video.models.device import resolve_device  # noqa: E402
from gpen_video.engine import Engine  # noqa: E402
from gpen_video.live.loop import run_live  # noqa: E402
from gpen_video.models.weights import REGISTRY  # noqa: E402
from gpen_video.restore import GpenRestorer  # noqa: E402

SOURCE = ROOT / "tests" / "data" / "talking_head_844.mp4"
WIDTH, HEIGHT = 640, 480


def make_source(dest: Path, loops: int) -> Path:
    """talking_head_844.mp4 -> 640x640 -> centre crop 640x480, H.264 at the source rate, ``loops`` times."""
    with av.open(str(SOURCE)) as inp:
        rate = inp.streams.video[0].average_rate
        frames = [f.to_ndarray(format="rgb24", width=WIDTH, height=WIDTH) for f in inp.decode(video=0)]
    top = (WIDTH - HEIGHT) // 2
    with av.open(str(dest), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "18"}
        for i, image in enumerate(frames * loops):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[top:top + HEIGHT]), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1) / Fraction(rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dest


class StandInCamera:
    """A virtual camera device that converts every frame to I420 as the v4l2loopback backend does."""

    device = "stand-in"

    def __init__(self, width: int, height: int, fps: float, device: str) -> None:
        self.width, self.height, self.fps = width, height, fps

    def send(self, rgb: np.ndarray) -> None:
        cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)

    def close(self) -> None:
        pass


def random_restorer(name: str, device: torch.device) -> GpenRestorer:
    """Random weights of ``name``'s layout, warmed up by one batch so that no row pays for the first call."""
    config = REGISTRY[name].config
    torch.manual_seed(0)
    restorer = GpenRestorer(config.build(), device=device, batch_size=1)
    restorer.submit(np.zeros((1, restorer.size, restorer.size, 3), np.uint8))
    list(restorer.collect(wait=True))
    return restorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", help="default: GPEN-BFR-256, plus GPEN-BFR-512 on CUDA")
    parser.add_argument("--in-flight", nargs="+", type=int, default=[2], help="max_in_flight values to try")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--loops", type=int, default=1, help="play the 5 s source this many times")
    args = parser.parse_args()
    device = resolve_device(args.device)
    models = args.models or (["GPEN-BFR-256", "GPEN-BFR-512"] if device.type == "cuda" else ["GPEN-BFR-256"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}")

    with tempfile.TemporaryDirectory() as tmp:
        source = make_source(Path(tmp) / "cam640x480.mp4", args.loops)
        rows = []
        for model in models:
            restorer = random_restorer(model, device)
            for in_flight in args.in_flight:
                for camera in (False, True):
                    settings = build_settings("webcam", {"restore": {"model": model},
                                                         "live": {"window": False, "max_in_flight": in_flight,
                                                                  "virtual_cam": camera}})
                    engine = Engine(settings, restorer=restorer)
                    result = run_live(str(source), settings, engine=engine, camera_opener=StandInCamera)
                    rows.append((model, restorer.precision, in_flight, camera, settings, result))

    print(f"source: {WIDTH}x{HEIGHT} @ 25 fps, {args.loops * 5} s, one face; settings from configs/webcam.toml")
    header = f"{'model':13} {'prec':5} {'inflight':8} {'camera':6} {'fps':>6} {'p50 ms':>7} {'p95 ms':>7} " \
             f"{'cam p50':>7} {'cam p95':>7} {'sent':>5} {'held':>5} {'trend':>7} {'shown':>6} {'dropped':>7}  settings"
    print(header)
    for model, precision, in_flight, camera, settings, result in rows:
        lat, cam = result.latency, result.camera_latency or {}
        fps = lat.get("fps") or 0.0
        faces = settings.faces
        cam_cols = (f"{cam['p50'] * 1000:7.0f} {cam['p95'] * 1000:7.0f} {result.camera.sent:5d} {result.camera.held:5d}"
                    if camera and "p50" in cam else f"{'-':>7} {'-':>7} {'-':>5} {'-':>5}")
        print(f"{model:13} {precision:5} {in_flight:8d} {'on' if camera else 'off':6} {fps:6.1f} "
              f"{lat['p50'] * 1000:7.0f} {lat['p95'] * 1000:7.0f} {cam_cols} {lat.get('trend', 0.0):+7.3f} "
              f"{result.frames:6d} {result.dropped:7d}  det_size={faces.det_size} detect_every={faces.detect_every} "
              f"batch={settings.restore.batch_size} temporal={faces.temporal}")
    for off, on in zip(rows[::2], rows[1::2]):
        lat_off, lat_on, cam = off[5].latency, on[5].latency, on[5].camera_latency or {}
        if "p50" in cam:
            print(f"{off[0]}/inflight={off[2]}: camera path on vs off: hand-out p50 x{lat_on['p50'] / lat_off['p50']:.2f}, "
                  f"p95 x{lat_on['p95'] / lat_off['p95']:.2f}; at the camera p50 x{cam['p50'] / lat_off['p50']:.2f}, "
                  f"p95 x{cam['p95'] / lat_off['p95']:.2f}; fps x{(lat_on.get('fps') or 0) / (lat_off.get('fps') or 1e-9):.2f}")


if __name__ == "__main__":
    main()
