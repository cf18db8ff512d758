"""One prepared GPU check: restorer throughput, 1080p end to end, per-stage times, GPU utilisation.

    python3 bench/gpu_check.py --out gpu_check.json            # a CUDA box: about 3-6 minutes on an H100/H200
    python3 bench/gpu_check.py --quick --out /tmp/quick.json   # anywhere, CPU included: tiny sizes, a minute

Writes one JSON file (and prints it) with:
  * ``environment``: torch, CUDA, GPU name, onnxruntime providers, CPU count;
  * ``restorer``: GPEN-BFR-512 faces/s (the cached official weights when present, else random
    weights: the speed is the same) at batch 1, 8 and 32 in bf16, fed as the engine feeds it (host
    uint8 crops through submit/collect), plain and with CUDA graphs, with the start-up seconds of each;
  * ``end_to_end``: frames/s of the whole pipeline on 1080p clips with one face per frame (the crowd
    clip at 1920x1080 limited to its largest face, the talking head scaled to 1080x1080), plus
    per-stage milliseconds per frame (stages overlap: they run in parallel threads) and GPU
    utilisation sampled during the run; the defaults (on CUDA: the device frame path, the detector on
    the GPU), then one setting changed at a time (``end_to_end_<variant>``, see ``VARIANTS``): the
    host frame path, each detector backend, NVDEC decoding, CUDA graphs;
  * ``codec``: decode + encode alone at 1080p for a few x264 presets (the encoder is the next wall
    on GPUs without NVENC, such as the H100/H200).
Every section records its own error instead of stopping the script, so one failure still leaves the
other numbers. ``--quick`` swaps in a 64 px random GPEN, batches 1 and 2, clips scaled to 256 px and
one preset, so the script itself can be checked on a CPU.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
from gpen_video.config import Settings  # noqa: E402
from gpen_video.models.device import resolve_device  # noqa: E402
from gpen_video.engine import Engine  # noqa: E402
from gpen_video.job import enhance_video  # noqa: E402
from gpen_video.media.reader import VideoReader  # noqa: E402
from gpen_video.media.writer import VideoWriter  # noqa: E402
from gpen_video.models.gpen import build_gpen  # noqa: E402
from gpen_video.models.weights import REGISTRY, load_gpen, weights_path  # noqa: E402
from gpen_video.restore import GpenRestorer  # noqa: E402
from tests.helpers.real_media import cut_clip  # noqa: E402

DATA = ROOT / "tests" / "data"


def section(report: dict, name: str, fn) -> None:
    """Run one part of the check; its result or its error goes under ``name``."""
    started = time.perf_counter()
    try:
        report[name] = fn()
    except Exception as exc:  # noqa: BLE001 - recorded, so the other sections still run
        report[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=5)}
    print(f"[{name}] {time.perf_counter() - started:.1f} s", file=sys.stderr)


def environment(device: torch.device) -> dict:
    import onnxruntime as ort

    env = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
           "device": str(device), "onnxruntime": ort.__version__, "onnx_providers": ort.get_available_providers()}
    if device.type == "cuda":
        env |= {"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version(), "bf16": torch.cuda.is_bf16_supported()}
    return env


class UtilisationSampler:
    """GPU utilisation (%) sampled every ``period`` s in a thread: torch.cuda.utilization (needs
    pynvml) or nvidia-smi; empty on the CPU or when neither answers."""

    def __init__(self, device: torch.device, period: float = 0.2) -> None:
        self.device, self.period, self.samples = device, period, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.source = self._pick_source()

    def _pick_source(self) -> str | None:
        if self.device.type != "cuda":
            return None
        try:
            torch.cuda.utilization(self.device)
            return "torch.cuda.utilization"
        except Exception:  # noqa: BLE001 - no pynvml/amdsmi: fall back to nvidia-smi
            return "nvidia-smi" if shutil.which("nvidia-smi") else None

    def _read(self) -> float:
        if self.source == "torch.cuda.utilization":
            return float(torch.cuda.utilization(self.device))
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                              "-i", str(index)], capture_output=True, text=True, timeout=5, check=True)
        return float(out.stdout.strip())

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.samples.append(self._read())
            except Exception:  # noqa: BLE001 - a missed sample is not worth stopping for
                pass

    def __enter__(self) -> UtilisationSampler:
        if self.source:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {"source": self.source, "samples": 0}
        return {"source": self.source, "samples": len(self.samples), "mean_percent": float(np.mean(self.samples)),
                "max_percent": float(np.max(self.samples))}


def gpen_model(quick: bool) -> tuple[torch.nn.Module, str]:
    if quick:
        torch.manual_seed(0)
        return build_gpen(64, channel_multiplier=1, narrow=0.25, style_dim=64, n_mlp=2), "random 64 px (quick)"
    path = weights_path("GPEN-BFR-512")
    if path.is_file():
        return load_gpen(path, name="GPEN-BFR-512")[0], f"GPEN-BFR-512 ({path})"
    torch.manual_seed(0)
    return REGISTRY["GPEN-BFR-512"].config.build(), "GPEN-BFR-512 (random weights: official file not cached)"


def faces_per_second(restorer: GpenRestorer, crops: np.ndarray, seconds: float) -> dict:
    """Host uint8 crops through submit/collect for about ``seconds`` (after one warm batch)."""
    b = restorer.batch_size
    restorer.submit(crops[:b])
    restorer.flush()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or done == 0:
        restorer.submit(crops[:b])
        done += len(restorer.collect()) * b
    done += len(restorer.flush()) * b
    elapsed = time.perf_counter() - started
    return {"faces": done, "seconds": elapsed, "faces_per_s": done / elapsed}


def restorer_check(device: torch.device, quick: bool, batches: list[int], seconds: float) -> dict:
    model, name = gpen_model(quick)
    precision = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "auto"
    crops = np.random.default_rng(0).integers(0, 256, (max(batches), model.in_size, model.in_size, 3), np.uint8)
    out: dict = {"model": name, "flop_note": "GPEN-BFR-512 is about 276 GFLOP per face"}
    graph_options = [False, True] if device.type == "cuda" else [False]
    for graphs in graph_options:
        for b in batches:
            started = time.perf_counter()
            restorer = GpenRestorer(model, device=device, batch_size=b, precision=precision, cuda_graphs=graphs)
            startup = time.perf_counter() - started
            key = f"batch_{b}" + ("_cuda_graphs" if graphs else "")
            out[key] = faces_per_second(restorer, crops, seconds) | {
                "startup_s": startup, "precision": restorer.precision, "static_shapes": restorer.static_shapes}
            print(f"  restorer {key}: {out[key]['faces_per_s']:.1f} faces/s", file=sys.stderr)
            del restorer
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return out


def clips(tmp: Path, quick: bool, seconds: float) -> dict[str, Path]:
    width_crowd, width_talk = (256, 256) if quick else (1920, 1080)
    return {
        f"crowd_{width_crowd}": cut_clip(DATA / "crowd_1080p.mp4", tmp / "crowd.mp4", seconds=seconds, width=width_crowd),
        f"talking_head_{width_talk}": cut_clip(DATA / "talking_head_844.mp4", tmp / "talk.mp4", seconds=seconds,
                                               width=width_talk),
    }


# End-to-end variants: one setting changed from the defaults each, as "section.key": value. On a CPU
# only the forced device frame path runs (it checks that path's code; it is not a CPU choice).
VARIANTS = {
    "host_frames": {"restore.frame_path": "host"},
    "detector_onnx": {"faces.detector": "retinaface-onnx"},
    "detector_torch": {"faces.detector": "retinaface-torch"},
    "nvdec": {"input.hwaccel": "cuda"},
    "cuda_graphs": {},
}
CPU_VARIANTS = {"device_frames": {"restore.frame_path": "device"}}


def end_to_end(device: torch.device, quick: bool, tmp: Path, inputs: dict[str, Path], batch: int,
               graphs: bool, overrides: dict[str, object] | None = None) -> dict:
    model, name = gpen_model(quick)
    settings = Settings()
    for dotted, value in (overrides or {}).items():
        section_name, key = dotted.split(".")
        setattr(settings, section_name, dataclasses.replace(getattr(settings, section_name), **{key: value}))
    settings.restore.batch_size = batch
    settings.faces.max_faces = 1  # one face per frame, the benchmark case
    settings.encode = dataclasses.replace(settings.encode, preset="veryfast")
    restorer = GpenRestorer(model, device=device, batch_size=batch,
                            precision="bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "auto",
                            cuda_graphs=graphs and device.type == "cuda")
    engine = Engine(settings, restorer=restorer)
    out: dict = {"model": name, "batch_size": batch, "cuda_graphs": graphs and device.type == "cuda",
                 "x264_preset": settings.encode.preset, "overrides": overrides or {},
                 "frame_path": dataclasses.asdict(engine.frame_path_choice), "detector": type(engine.detector).__name__}
    for clip_name, clip in inputs.items():
        with UtilisationSampler(device) as sampler:
            result = enhance_video(clip, tmp / f"out_{clip_name}.mp4", settings, overwrite=True, engine=engine)
        frames = result.stats.frames
        out[clip_name] = {
            "frames": frames, "faces": result.stats.faces, "seconds": result.seconds,
            "fps": frames / result.seconds,
            "stage_ms_per_frame": {k: 1000 * v / max(frames, 1) for k, v in result.stats.stage_seconds.items()},
            "gpu_utilisation": sampler.summary(),
        }
        print(f"  end to end {clip_name}: {out[clip_name]['fps']:.1f} fps", file=sys.stderr)
    return out


def codec_check(tmp: Path, inputs: dict[str, Path], presets: list[str]) -> dict:
    """Decode + encode alone (no faces) per x264 preset: the encoder's ceiling on this box."""
    settings = Settings()
    out: dict = {}
    clip_name, clip = next(iter(inputs.items()))
    for preset in presets:
        settings.encode = dataclasses.replace(settings.encode, preset=preset)
        started = time.perf_counter()
        with VideoReader(clip) as reader:
            info = reader.info
            with VideoWriter(tmp / f"codec_{preset}.mp4", width=info.width, height=info.height,
                             time_base=info.time_base, fps=info.fps, source=clip, settings=settings.encode,
                             overwrite=True) as writer:
                for frame in reader:
                    writer.write(frame)
        elapsed = time.perf_counter() - started
        out[preset] = {"clip": clip_name, "frames": writer.stats.frames, "fps": writer.stats.frames / elapsed}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the script itself, on any device")
    ap.add_argument("--seconds", type=float, default=None, help="clip length and restorer timing [3, quick 0.5]")
    args = ap.parse_args()
    device = resolve_device(args.device)
    seconds = args.seconds or (0.5 if args.quick else 3.0)
    batches = [1, 2] if args.quick else [1, 8, 32]
    presets = ["veryfast"] if args.quick else ["ultrafast", "superfast", "veryfast", "faster", "medium"]
    report: dict = {"quick": args.quick, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    section(report, "environment", lambda: environment(device))
    section(report, "restorer", lambda: restorer_check(device, args.quick, batches, seconds))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        inputs = clips(tmp, args.quick, seconds)
        big = max(batches)
        section(report, "end_to_end", lambda: end_to_end(device, args.quick, tmp, inputs, big, graphs=False))
        for variant, overrides in (VARIANTS if device.type == "cuda" else CPU_VARIANTS).items():
            section(report, f"end_to_end_{variant}",
                    lambda: end_to_end(device, args.quick, tmp, inputs, big, graphs=variant == "cuda_graphs",
                                       overrides=overrides))
        section(report, "codec", lambda: codec_check(tmp, inputs, presets))
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
