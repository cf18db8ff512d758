"""End-to-end pipeline efficiency on a real clip, with GPEN-BFR-256 (random weights).

Measures, in one run and on the same clip and faces:
  1. the whole pipeline (decode → detect/track → align → GPEN → blend → paste → encode);
  2. the restorer alone on the same aligned faces (faces/s, converted to frames/s);
  3. decode + encode alone with the same encoder settings (frames/s).
Efficiency = end-to-end frames/s ÷ the tighter of the two limits. 1.0 means everything except the
bottleneck is hidden behind it.

On a CPU the restorer and every other stage share the same cores, so nothing can hide behind the
restorer and that efficiency cannot reach 1. For that case the run also measures
  4. the pipeline with a pass-through restorer (everything except GPEN, on the default frame path), and prints
the shared-processor bound 1 / (1/restorer + 1/rest) and the efficiency against it: 1.0 means the
pipeline wastes no processor time on waiting.

  5. the pipeline with a pass-through restorer once more, on the other frame path ([restore]
     frame_path: the host path's OpenCV warps or the device path's torch ones; auto picks the device
     on CUDA, the host elsewhere), and prints the device path's frames/s over the host path's. The
     restorer is the same on both paths, so the part without GPEN is where they differ.

    python3 bench/bench_pipeline.py [--clip PATH] [--seconds 2] [--device auto] [--json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from gpen_video.config import Settings  # noqa: E402
from gpen_video.models.device import resolve_device  # noqa: E402
from gpen_video.engine import Engine  # noqa: E402
from gpen_video.job import enhance_video  # noqa: E402
from gpen_video.media.reader import VideoReader  # noqa: E402
from gpen_video.media.settings import EncodeSettings  # noqa: E402
from gpen_video.media.writer import VideoWriter  # noqa: E402
from gpen_video.models.weights import REGISTRY  # noqa: E402
from gpen_video.protocols import Restorer  # noqa: E402
from gpen_video.restore import GpenRestorer, PassthroughRestorer  # noqa: E402

DEFAULT_CLIP = Path(__file__).resolve().parents[1] / "tests" / "data" / "talking_head_844.mp4"


def measure_codec(clip: Path, out: Path, seconds: float, encoder: EncodeSettings) -> tuple[int, float]:
    """Frames and seconds for decode + encode alone."""
    started = time.perf_counter()
    with VideoReader(clip, end=seconds) as reader:
        info = reader.info
        with VideoWriter(out, width=info.width, height=info.height, time_base=info.time_base, fps=info.fps,
                         source=clip, settings=encoder, overwrite=True) as writer:
            for frame in reader:
                writer.write(frame)
    return writer.stats.frames, time.perf_counter() - started


def aligned_faces(clip: Path, seconds: float, settings: Settings, size: int) -> np.ndarray:
    """The aligned crops the pipeline restores on this clip, uint8 [N, S, S, 3]."""
    engine = Engine(settings, restorer=PassthroughRestorer(size=size))
    with VideoReader(clip, end=seconds) as reader:
        crops = [face.crop for result in engine.stream(reader) for face in result.faces]
    return np.stack(crops)


def with_frame_path(settings: Settings, frame_path: str) -> Settings:
    return dataclasses.replace(settings, restore=dataclasses.replace(settings.restore, frame_path=frame_path))


def measure_restorer(restorer: Restorer, crops: np.ndarray) -> float:
    """Seconds to restore ``crops`` through submit/collect, the way the engine feeds it."""
    started = time.perf_counter()
    for begin in range(0, len(crops), restorer.batch_size):
        restorer.submit(crops[begin : begin + restorer.batch_size])
        restorer.collect()
    restorer.flush()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--seconds", type=float, default=None, help="clip length to use [default: 2 on CPU, 5 on CUDA]")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--preset", default="veryfast", help="x264 preset for both the pipeline and the codec limit")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    device = resolve_device(args.device)
    seconds = args.seconds or (5.0 if device.type == "cuda" else 2.0)
    settings = Settings()
    settings.restore.batch_size = args.batch_size
    settings.encode = dataclasses.replace(settings.encode, preset=args.preset)  # EncodeSettings is frozen
    encoder = settings.encode
    torch.manual_seed(0)
    restorer = GpenRestorer(REGISTRY["GPEN-BFR-256"].config.build(), device=device, batch_size=args.batch_size)

    with tempfile.TemporaryDirectory() as tmp:
        crops = aligned_faces(args.clip, seconds, settings, restorer.size)
        measure_restorer(restorer, crops[: restorer.batch_size])  # warm the allocator and kernels
        restore_seconds = measure_restorer(restorer, crops)
        codec_frames, codec_seconds = measure_codec(args.clip, Path(tmp) / "codec.mp4", seconds, encoder)
        engine = Engine(settings, restorer=restorer)
        result = enhance_video(args.clip, Path(tmp) / "full.mp4", settings, end=seconds, overwrite=True,
                               engine=engine)
        auto_path = engine.frame_path.name
        rest_by_path = {}
        for frame_path in (auto_path, "device" if auto_path == "host" else "host"):  # the default first
            passthrough = PassthroughRestorer(size=restorer.size, device=restorer.device)  # paths run where GPEN does
            path_settings = with_frame_path(settings, frame_path)
            rest = enhance_video(args.clip, Path(tmp) / f"rest_{frame_path}.mp4", path_settings, end=seconds,
                                 overwrite=True, engine=Engine(path_settings, restorer=passthrough))
            rest_by_path[frame_path] = rest.stats.frames / rest.seconds

    frames, faces = result.stats.frames, result.stats.faces
    faces_per_frame = faces / frames
    restorer_fps = len(crops) / restore_seconds / faces_per_frame
    codec_fps = codec_frames / codec_seconds
    end_to_end_fps = frames / result.seconds
    bound = min(restorer_fps, codec_fps)
    rest_fps = rest_by_path[auto_path]
    shared_bound = 1 / (1 / restorer_fps + 1 / rest_fps)
    report = {
        "device": str(device), "precision": restorer.precision, "clip": str(args.clip), "frames": frames,
        "faces": faces, "batch_size": args.batch_size,
        "restorer_faces_per_s": len(crops) / restore_seconds,
        "restorer_limit_fps": restorer_fps, "codec_limit_fps": codec_fps, "end_to_end_fps": end_to_end_fps,
        "bottleneck": "restorer" if restorer_fps <= codec_fps else "codec",
        "efficiency": end_to_end_fps / bound,
        "rest_of_pipeline_fps": rest_fps, "shared_processor_bound_fps": shared_bound,
        "shared_processor_efficiency": end_to_end_fps / shared_bound,
        "frame_path": auto_path,
        "rest_of_pipeline_fps_by_frame_path": rest_by_path,
        "device_path_over_host_path": rest_by_path["device"] / rest_by_path["host"],
        "stage_seconds": dict(result.stats.stage_seconds),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"device {report['device']} ({report['precision']}), {frames} frames, {faces} faces, batch {args.batch_size}")
        print(f"  restorer alone      {report['restorer_faces_per_s']:8.2f} faces/s = {restorer_fps:8.2f} frames/s")
        print(f"  decode+encode alone {codec_fps:8.2f} frames/s")
        print(f"  end to end          {end_to_end_fps:8.2f} frames/s")
        print(f"  efficiency          {report['efficiency']:8.2f}  (bottleneck: {report['bottleneck']})")
        print(f"  pipeline without GPEN {rest_fps:6.2f} frames/s -> shared-processor bound {shared_bound:.2f} frames/s,"
              f" efficiency {report['shared_processor_efficiency']:.2f}")
        print(f"  pipeline without GPEN, frame path: host {rest_by_path['host']:6.2f} frames/s, device"
              f" {rest_by_path['device']:6.2f} frames/s -> device/host {report['device_path_over_host_path']:.2f}"
              f" (auto here: {auto_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
