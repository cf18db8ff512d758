"""One prepared GPU check, built to run the first time on a bare CUDA/PyTorch box and to finish in time.

    python3 bench/gpu_check.py                      # a CUDA box: about 4-6 minutes, never more than 8
    python3 bench/gpu_check.py --quick              # anywhere, the CPU included: tiny sizes, the same code

On a box without network, first install the wheels ``bench/gpu_wheels.sh`` downloaded (see bench/README.md).

The JSON report (``--out``, default gpu_check.json) is rewritten after every section, so a run stopped at
any point keeps what it measured; a watchdog ends the run at the hard limit (``--limit``, 7.5 minutes),
and a section that would not fit in the time left is recorded as skipped. Sections:
  * ``environment``: versions, the GPU, onnxruntime's providers, FFmpeg's hardware devices, the cores;
  * ``restorer``: GPEN-BFR-512 faces/s at every bucket size (1, 2, 4 ... 32: the micro-batch sizes the
    restorer runs), fed as the engine feeds it (host uint8 crops through submit/collect), plain and with
    CUDA graphs (and torch.compile with ``--compile``), with each one's start-up seconds. The cached
    official weights when present, else random weights (the same speed);
  * ``codec``: the 1080p clip decoded alone (CPU, then NVDEC, with its fallback recorded), and encoded
    alone from yuv420p planes (as the device frame path hands them to the writer) per x264 preset;
  * ``end_to_end``: the whole pipeline on the real 1920x1080 crowd clip, looped to at least 300 frames,
    one face per frame (its largest), steady-state frames/s (the first frames, start-up included, are
    left out), per-stage milliseconds per frame and GPU utilisation; then one setting changed at a time
    (``end_to_end_<variant>``): the host frame path, each detector backend, NVDEC, CUDA graphs. Each
    records where its detector really ran (an ONNX detector without onnxruntime's CUDA provider runs on
    the CPU, and says so) and any fallback;
  * ``batch``: the batch command's local executor with 4 workers on 4 copies of the looped clip: the
    box's steady-state frames/s;
  * ``summary``: the headline numbers beside the targets (1,500 faces/s; 150 fps for one job and 300 fps
    for the box at 1080p with one face).
Every section records its own error instead of stopping the script. ``--quick`` swaps in a 64 px
random GPEN, the talking head scaled to 256 px and looped to 60 frames, and one preset: the script
checked on a CPU.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
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
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
from gpen_video.batch.driver import run_batch  # noqa: E402
from gpen_video.batch.options import BatchOptions  # noqa: E402
from gpen_video.config import Settings  # noqa: E402
from gpen_video.engine import Engine  # noqa: E402
from gpen_video.faces.detect import RetinaFaceOnnx, RetinaFaceTorch  # noqa: E402
from gpen_video.job import enhance_video  # noqa: E402
from gpen_video.media.reader import VideoReader  # noqa: E402
from gpen_video.media.writer import VideoWriter  # noqa: E402
from gpen_video.models.device import onnx_providers, resolve_device  # noqa: E402
from gpen_video.models.gpen import build_gpen  # noqa: E402
from gpen_video.models.weights import REGISTRY, load_gpen, weights_path  # noqa: E402
from gpen_video.restore import GpenRestorer  # noqa: E402
from gpen_video.types import Frame, Progress  # noqa: E402

DATA = ROOT / "tests" / "data"
TARGETS = {"gpen_faces_per_s": 1500, "one_job_fps_1080p": 150, "box_fps_1080p": 300}


class Report:
    """The JSON report, rewritten (atomically) after every section, with the time left to the run."""

    def __init__(self, path: Path, limit: float, quick: bool) -> None:
        self.path, self.limit = path, limit
        self.started = time.monotonic()
        self.data: dict = {"quick": quick, "limit_s": limit, "started": _now(), "sections_s": {}}
        self._lock = threading.Lock()

    def left(self) -> float:
        return self.limit - (time.monotonic() - self.started)

    def write(self) -> None:
        with self._lock:
            self.data["elapsed_s"] = round(time.monotonic() - self.started, 1)
            temp = self.path.with_name(self.path.name + ".part")
            temp.write_text(json.dumps(self.data, indent=2, default=str))
            temp.replace(self.path)

    def section(self, name: str, fn, *, needs: float) -> None:
        """Run ``fn`` as ``name`` when ``needs`` seconds are left (else record it as skipped); its result or
        its error goes under ``name``, then the report is written."""
        if self.left() < needs:
            left = self.left()
            self.data[name] = {"skipped": f"{left:.0f} s left of the limit; the section needs about {needs:.0f} s"}
        else:
            started = time.monotonic()
            self.data["running"] = name
            self.write()
            try:
                self.data[name] = fn()
            except Exception as exc:  # noqa: BLE001 - recorded, so the other sections still run
                self.data[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=6)}
            self.data["sections_s"][name] = round(time.monotonic() - started, 1)
            print(f"[{name}] {self.data['sections_s'][name]:.1f} s, {self.left():.0f} s left", file=sys.stderr)
        self.data.pop("running", None)
        self.write()

    def watchdog(self) -> None:
        """End the process at the limit, whatever is running (a hung CUDA call included), after writing
        which section was cut."""
        def stop() -> None:
            self.data["stopped_at_limit"] = self.data.get("running", "between sections")
            self.write()
            print(f"gpu_check: stopped at the {self.limit:.0f} s limit; partial report in {self.path}", file=sys.stderr)
            os._exit(3)

        timer = threading.Timer(self.limit, stop)
        timer.daemon = True
        timer.start()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# -- environment ---------------------------------------------------------------------------------
def environment(device: torch.device) -> dict:
    import cv2
    import onnxruntime as ort
    from av.codec.hwaccel import hwdevices_available

    env = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "opencv": cv2.__version__, "av": av.__version__, "ffmpeg_hw_devices": list(hwdevices_available()),
           "cpus": os.cpu_count(),
           "cpus_allowed": len(os.sched_getaffinity(0)) if sys.platform.startswith("linux") else None,
           "device": str(device), "onnxruntime": ort.__version__, "onnx_providers": ort.get_available_providers()}
    if device.type == "cuda":
        env |= {"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version(), "bf16": torch.cuda.is_bf16_supported(),
                "gpu_memory_gib": round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)}
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


# -- inputs ----------------------------------------------------------------------------------------
def gpen_model(quick: bool) -> tuple[torch.nn.Module, str]:
    if quick:
        torch.manual_seed(0)
        return build_gpen(64, channel_multiplier=1, narrow=0.25, style_dim=64, n_mlp=2), "random 64 px (quick)"
    path = weights_path("GPEN-BFR-512")
    if path.is_file():
        return load_gpen(path, name="GPEN-BFR-512")[0], f"GPEN-BFR-512 ({path})"
    torch.manual_seed(0)
    return REGISTRY["GPEN-BFR-512"].config.build(), "GPEN-BFR-512 (random weights: official file not cached)"


def precision_for(device: torch.device) -> str:
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "auto"


def looped_clip(source: Path, dest: Path, *, frames: int, width: int) -> Path:
    """``dest``: ``source``'s video scaled to ``width`` (even height) and played over and over until it has
    ``frames`` frames, at the source's rate (H.264, a keyframe every second, no audio)."""
    with av.open(str(source)) as inp:
        stream = inp.streams.video[0]
        rate = stream.average_rate or Fraction(25)
        height = round(stream.codec_context.height * width / stream.codec_context.width / 2) * 2
        pictures = [f.reformat(width=width, height=height, format="yuv420p").to_ndarray() for f in inp.decode(stream)]
    with av.open(str(dest), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = {"preset": "veryfast", "crf": "18", "g": str(round(rate))}
        for index in range(frames):
            picture = av.VideoFrame.from_ndarray(pictures[index % len(pictures)], format="yuv420p")
            picture.pts = index
            picture.time_base = Fraction(1) / rate
            for packet in video.encode(picture):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return dest


class FrameClock:
    """Progress listener: steady-state frames/s, counted from the moment ``warm`` frames are done, so the
    start-up and the first frames (kernel tuning, lazy loading) are left out."""

    def __init__(self, warm: int) -> None:
        self.warm = warm
        self.done: dict[str, int] = {}
        self.marks: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            self.done[progress.item] = progress.done
            self.marks.append((time.perf_counter(), sum(self.done.values())))

    def steady(self, items: int = 1) -> dict:
        """fps from the first mark with ``warm`` frames done per input (``items`` inputs) to the last."""
        with self._lock:
            marks = list(self.marks)
        start = next((mark for mark in marks if mark[1] >= self.warm * items), None)
        if start is None or marks[-1][0] <= start[0]:
            return {"steady_fps": None, "note": "too few frames past the warm-up"}
        return {"steady_fps": (marks[-1][1] - start[1]) / (marks[-1][0] - start[0]),
                "steady_frames": marks[-1][1] - start[1], "warm_frames_left_out": start[1]}


# -- sections --------------------------------------------------------------------------------------
def faces_per_second(restorer: GpenRestorer, crops: np.ndarray, rows: int, seconds: float) -> dict:
    """``rows`` host crops per submit through submit/collect for about ``seconds``, after two warm submits."""
    for _ in range(2):
        restorer.submit(crops[:rows])
    restorer.flush()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or done == 0:
        restorer.submit(crops[:rows])
        done += rows * len(restorer.collect())
    done += rows * len(restorer.flush())
    elapsed = time.perf_counter() - started
    return {"faces_per_s": done / elapsed, "faces": done, "seconds": round(elapsed, 2)}


def restorer_check(device: torch.device, quick: bool, batch: int, seconds: float, compile: bool,
                   report: Report) -> dict:
    model, name = gpen_model(quick)
    crops = np.random.default_rng(0).integers(0, 256, (batch, model.in_size, model.in_size, 3), np.uint8)
    out: dict = {"model": name, "batch_size": batch, "flop_note": "GPEN-BFR-512 is about 276 GFLOP per face"}
    modes = {"plain": {}}
    if device.type == "cuda":
        modes["cuda_graphs"] = {"cuda_graphs": True}
    if compile:
        modes["inductor"] = {"compile": True}
    for mode, options in modes.items():
        started = time.perf_counter()
        restorer = GpenRestorer(model, device=device, batch_size=batch, precision=precision_for(device), **options)
        result = {"startup_s": round(time.perf_counter() - started, 2), "backend": restorer.backend,
                  "static_shapes": restorer.static_shapes, "buckets": {}}
        out[mode] = result
        for rows in restorer.buckets:
            result["buckets"][rows] = faces_per_second(restorer, crops, rows, seconds)
            print(f"  restorer {mode} x{rows}: {result['buckets'][rows]['faces_per_s']:.1f} faces/s", file=sys.stderr)
            report.write()
        restorer.close()
        del restorer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def codec_check(device: torch.device, clip: Path, presets: list[str], report: Report) -> dict:
    """Decode alone (CPU, then NVDEC), then encode alone from yuv420p planes per x264 preset."""
    out: dict = {"clip": clip.name}
    for hwaccel in ("none", "cuda") if device.type == "cuda" else ("none",):
        started = time.perf_counter()
        with VideoReader(clip, hwaccel=hwaccel) as reader:
            frames = sum(1 for _ in reader)
            notices = list(reader.stats.notices)
        elapsed = time.perf_counter() - started
        out[f"decode_{hwaccel}"] = {"frames": frames, "fps": frames / elapsed, "notices": notices,
                                    "fell_back_to_cpu": any("on the CPU" in n for n in notices)}
    with VideoReader(clip) as reader:
        info = reader.info
        first = next(iter(reader))
    with av.open(str(clip)) as inp:  # the planes the writer takes, as the device path makes them
        planes = [f.reformat(format="yuv420p").to_ndarray() for _, f in zip(range(50), inp.decode(video=0))]
    frames = info.frame_count or 300
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            settings.encode = dataclasses.replace(settings.encode, preset=preset)
            with VideoWriter(Path(tmp) / f"{preset}.mp4", width=info.width, height=info.height,
                             time_base=info.time_base, fps=info.fps, settings=settings.encode,
                             overwrite=True) as writer:
                assert writer.takes_planes
                started = time.perf_counter()
                for index in range(frames):
                    frame = Frame(index=index, pts=round(index / info.fps / info.time_base), time_base=info.time_base,
                                  image=first.image)
                    writer.write(frame, planes[index % len(planes)])
            elapsed = time.perf_counter() - started  # the encoder's flush included
            out[f"encode_{preset}"] = {"frames": frames, "fps": frames / elapsed, "fed": "yuv420p planes"}
            report.write()
    return out


def detector_placement(engine: Engine) -> dict:
    """Where the detector really runs: an ONNX detector on CUDA needs onnxruntime's CUDA provider."""
    detector = engine.detector
    if isinstance(detector, RetinaFaceOnnx):
        import onnxruntime as ort

        asked = [p if isinstance(p, str) else p[0] for p in onnx_providers(engine.restorer.device)]
        used = [p for p in asked if p in ort.get_available_providers()]
        return {"class": "RetinaFaceOnnx", "onnx_providers": used,
                "runs_on": "cuda" if used and used[0] == "CUDAExecutionProvider" else "cpu"}
    if isinstance(detector, RetinaFaceTorch):
        return {"class": "RetinaFaceTorch", "runs_on": str(detector.device)}
    return {"class": type(detector).__name__, "runs_on": engine.restorer.device}


# End-to-end variants: one setting changed from the defaults each, as "section.key": value. On a CPU
# only the forced device frame path runs (it checks that path's code; it is not a CPU choice).
VARIANTS = {
    "host_frames": {"restore.frame_path": "host"},
    "detector_onnx": {"faces.detector": "retinaface-onnx"},
    "detector_torch": {"faces.detector": "retinaface-torch"},
    "nvdec": {"input.hwaccel": "cuda"},
    "cuda_graphs": {"restore.cuda_graphs": True},
}
CPU_VARIANTS = {"device_frames": {"restore.frame_path": "device"}}


def run_settings(batch: int, overrides: dict[str, object] | None = None) -> Settings:
    settings = Settings()
    for dotted, value in (overrides or {}).items():
        section_name, key = dotted.split(".")
        setattr(settings, section_name, dataclasses.replace(getattr(settings, section_name), **{key: value}))
    settings.restore = dataclasses.replace(settings.restore, batch_size=batch)
    settings.faces = dataclasses.replace(settings.faces, max_faces=1)  # one face per frame, the benchmark's case
    settings.encode = dataclasses.replace(settings.encode, preset="veryfast")
    return settings


def end_to_end(device: torch.device, quick: bool, tmp: Path, clip: Path, batch: int, warm: int,
               overrides: dict[str, object] | None = None) -> dict:
    model, name = gpen_model(quick)
    settings = run_settings(batch, overrides)
    started = time.perf_counter()
    restorer = GpenRestorer(model, device=device, batch_size=batch, precision=precision_for(device),
                            cuda_graphs=settings.restore.cuda_graphs and device.type == "cuda")
    engine = Engine(settings, restorer=restorer)
    startup = time.perf_counter() - started
    clock = FrameClock(warm)
    with UtilisationSampler(device) as sampler:
        result = enhance_video(clip, tmp / "out.mp4", settings, overwrite=True, engine=engine, progress=clock)
    restorer.close()
    frames = result.stats.frames
    return {"model": name, "clip": clip.name, "batch_size": batch, "overrides": overrides or {},
            "frame_path": dataclasses.asdict(engine.frame_path_choice), "detector": detector_placement(engine),
            "restorer": {"backend": restorer.backend, "startup_s": round(restorer.startup_seconds, 2),
                         "cuda_graphs": settings.restore.cuda_graphs and device.type == "cuda"},
            "engine_startup_s": round(startup, 2), "frames": frames, "faces": result.stats.faces,
            "seconds_with_startup": round(result.seconds, 2), **clock.steady(),
            "stage_ms_per_frame": {k: 1000 * v / max(frames, 1) for k, v in result.stats.stage_seconds.items()},
            "decoder_fell_back_to_cpu": any("on the CPU" in n for n in result.media["reader"]["notices"]),
            "media": result.media,  # the reader's and writer's counters and notices
            "gpu_utilisation": sampler.summary()}


def batch_check(device: torch.device, quick: bool, tmp: Path, clip: Path, batch: int, workers: int, warm: int) -> dict:
    """The batch command's local executor: ``workers`` worker processes on as many copies of ``clip``."""
    gc.collect()  # the earlier sections' models leave this process's GPU memory to the workers
    if device.type == "cuda":
        torch.cuda.empty_cache()
    model, name = gpen_model(quick)
    weights = tmp / ("tiny_gpen.pth" if quick else "GPEN-BFR-512.pth")  # workers load it like any checkpoint
    torch.save(model.state_dict(), weights)
    inputs = tmp / "batch_in"
    inputs.mkdir(exist_ok=True)
    for k in range(workers):
        shutil.copyfile(clip, inputs / f"clip_{k}.mp4")
    settings = run_settings(batch)
    settings.restore = dataclasses.replace(settings.restore, weights=str(weights), backend="torch", device=str(device))
    clock = FrameClock(warm)
    started = time.perf_counter()
    # No retries: a unit that fails (out of GPU memory with 4 models on one GPU) is recorded, not run again.
    options = BatchOptions(out_dir=tmp / "batch_out", workers=workers, overwrite=True, retries=0)
    result = run_batch([inputs], settings, options, progress=clock)
    wall = time.perf_counter() - started
    frames = sum(clock.done.values())
    return {"model": name, "workers": workers, "inputs": workers, "batch_size": batch, "frames": frames,
            "failed": [r.source for r in result.failed], "seconds_with_startup": round(wall, 2),
            "fps_with_startup": frames / wall, **clock.steady(items=workers)}


def summary(data: dict) -> dict:
    def best_faces() -> float | None:
        buckets = [b.get("faces_per_s") for mode in ("plain", "cuda_graphs", "inductor")
                   for b in data.get("restorer", {}).get(mode, {}).get("buckets", {}).values()]
        return max((b for b in buckets if b), default=None)

    one_job = [v.get("steady_fps") for k, v in data.items() if k.startswith("end_to_end") and isinstance(v, dict)]
    return {"targets": TARGETS, "gpen_faces_per_s_best": best_faces(),
            "one_job_fps_1080p_best": max((f for f in one_job if f), default=None),
            "box_fps_1080p": data.get("batch", {}).get("steady_fps")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the script itself, on any device")
    ap.add_argument("--limit", type=float, default=450.0, help="hard limit for the whole run, seconds [450]")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (Inductor): minutes of start-up")
    args = ap.parse_args()
    report = Report(args.out, args.limit, args.quick)
    report.watchdog()
    device = resolve_device(args.device)
    quick = args.quick
    frames, warm = (60, 10) if quick else (300, 50)
    width = 256 if quick else 1920
    batch = 2 if quick else 32
    seconds = 0.3 if quick else 1.5
    presets = ["veryfast"] if quick else ["ultrafast", "superfast", "veryfast", "faster"]
    report.section("environment", lambda: environment(device), needs=0)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # quick: the talking head, whose face a 256 px frame still shows large enough to detect
        source = DATA / ("talking_head_844.mp4" if quick else "crowd_1080p.mp4")
        clip = looped_clip(source, tmp / f"{source.stem}_{width}px_{frames}f.mp4", frames=frames, width=width)
        report.section("restorer", lambda: restorer_check(device, quick, batch, seconds, args.compile, report),
                       needs=30)
        report.section("codec", lambda: codec_check(device, clip, presets, report), needs=20)
        report.section("end_to_end", lambda: end_to_end(device, quick, tmp, clip, batch, warm), needs=25)
        # 4 GPENs share the GPU: half the micro-batch each keeps their memory within an H100's
        report.section("batch", lambda: batch_check(device, quick, tmp, clip, max(1, batch // 2), 4, warm), needs=60)
        for variant, overrides in (VARIANTS if device.type == "cuda" else CPU_VARIANTS).items():
            report.section(f"end_to_end_{variant}",
                           lambda: end_to_end(device, quick, tmp, clip, batch, warm, overrides=overrides), needs=25)
    report.data["summary"] = summary(report.data)
    report.data["finished"] = _now()
    report.write()
    print(json.dumps(report.data, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
