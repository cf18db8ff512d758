"""The CPU default backend, chosen by measurement once per CPU model and core count, then cached.

CPU flags do not predict speed: bf16 autocast was about 2x fp32 on the AMD EPYC this project started
on, but 0.89-0.97x on a Xeon that also reports ``avx512_bf16``. So on first use on a CPU, one small
forward of each candidate is timed on a probe GPEN (GPEN-512's layout at 64 px and a quarter of its
width, random weights, batch 1): torch fp32, torch bf16 (on CPUs with native bf16: emulated bf16 was
7-10x slower than fp32 here, so it is not worth the time) and ONNX Runtime fp32 (when the ``onnx``
extra can export the probe). Each is warmed up, then timed alternately with the others and its best time kept.
The timings go to ``$GPEN_VIDEO_HOME/cpu-backend.json``, keyed by "<CPU model> x<cores>"; the
fastest candidate that the run allows (fp32 only, when fp32 is asked for) is the default.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_FILE = "cpu-backend.json"
# GPEN-512's layout at 64 px and a quarter of its width (128 channels): the same kinds of layers, ~0.1 s a forward
PROBE = {"in_size": 64, "channel_multiplier": 2, "narrow": 0.25, "style_dim": 512, "n_mlp": 8}
CANDIDATES = ("torch fp32", "torch bf16", "onnxruntime fp32")
_REPEATS = 3


@dataclass(frozen=True)
class CpuChoice:
    """The measured candidates of this CPU and the one picked for a run.

    ``timings_ms``: best time of one probe forward per candidate ("torch fp32", ...). ``backend`` is
    "torch" or "onnxruntime", ``precision`` "fp32" or "bf16". ``measured_now``: False when read from the cache.
    """

    cpu: str
    backend: str
    precision: str
    timings_ms: dict[str, float]
    measured_now: bool

    def as_report(self) -> dict:
        return {"cpu": self.cpu, "backend": self.backend, "precision": self.precision,
                "probe_ms": self.timings_ms, "measured_now": self.measured_now}


@lru_cache(maxsize=1)
def cpu_key() -> str:
    """"<CPU model name> x<cores usable by this process>"."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return f"{model} x{cores}"


def _cache_path() -> Path:
    from ..models.weights import cache_dir

    return cache_dir() / CACHE_FILE


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def choose_cpu_backend(*, fp32_only: bool = False,
                       measure: Callable[[], dict[str, float]] | None = None) -> CpuChoice:
    """The fastest allowed candidate on this CPU: from the cache, else measured now (and cached).

    ``measure`` returns {candidate: ms}; it defaults to ``measure_candidates``. An unwritable cache
    only costs a new measurement next time.
    """
    path, key = _cache_path(), cpu_key()
    cache = _read_cache(path)
    entry = cache.get(key)
    fresh = not (isinstance(entry, dict) and isinstance(entry.get("probe_ms"), dict) and entry["probe_ms"])
    if fresh:
        log.warning("measuring which GPEN backend is fastest on this CPU (once, 10-30 s; cached in %s)", path)
        timings = (measure or measure_candidates)()
        cache[key] = {"probe_ms": timings, "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            from ..media.output import write_json_atomic

            write_json_atomic(path, cache)
        except OSError as exc:
            log.warning("could not cache the CPU backend choice in %s: %s", path, exc)
    else:
        timings = {k: float(v) for k, v in entry["probe_ms"].items()}
    allowed = {k: v for k, v in timings.items() if k in CANDIDATES and not (fp32_only and k.endswith("bf16"))}
    best = min(allowed, key=allowed.get) if allowed else "torch fp32"
    backend, precision = best.split()
    return CpuChoice(key, backend, precision, timings, fresh)


def cached_choice() -> CpuChoice | None:
    """This CPU's cached measurement and pick (any precision), or None when it was never measured."""
    entry = _read_cache(_cache_path()).get(cpu_key())
    if not (isinstance(entry, dict) and isinstance(entry.get("probe_ms"), dict) and entry["probe_ms"]):
        return None
    return choose_cpu_backend()


def measure_candidates() -> dict[str, float]:
    """Best milliseconds of one probe forward (batch 1) for each candidate this machine can run."""
    import numpy as np
    import torch

    from ..device import cpu_has_bf16
    from ..models.gpen import build_gpen
    from .gpen import GpenRestorer

    torch.manual_seed(0)
    model = build_gpen(**PROBE)
    crops = np.random.default_rng(0).integers(0, 256, (1, PROBE["in_size"], PROBE["in_size"], 3), dtype=np.uint8)
    runs: dict[str, Callable[[], object]] = {}
    for precision in ("fp32", "bf16") if cpu_has_bf16() else ("fp32",):
        restorer = GpenRestorer(model, device="cpu", batch_size=1, precision=precision, warmup=False)
        runs[f"torch {precision}"] = lambda r=restorer: r.restore(crops)
    with tempfile.TemporaryDirectory(prefix="gpen-probe-") as folder:
        onnx = _probe_restorer(model, Path(folder) / "probe.onnx")
        if onnx is not None:
            runs["onnxruntime fp32"] = lambda: onnx.restore(crops)
        return _time_alternately(runs)


def _probe_restorer(model, path: Path):
    """An ONNX Runtime restorer of the probe on the CPU, or None when the probe cannot be exported here."""
    from ..errors import GpenVideoError
    from ..models.onnx import export_onnx
    from .onnx import OnnxRestorer
    from .providers import CPU, ProviderPlan

    try:
        export_onnx(model, path, name="probe", source_sha256="")
        return OnnxRestorer(path, ProviderPlan([(CPU, {})], "cpu"), batch_size=1, warmup=False)
    except GpenVideoError as exc:  # no onnx extra, or the exporter failed: torch only
        log.warning("ONNX Runtime left out of the CPU backend measurement: %s", exc)
        return None


def _time_alternately(runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Warm each up, then time them in turn ``_REPEATS`` times (load hits all alike); best ms each."""
    for run in runs.values():
        run()
    best = {name: float("inf") for name in runs}
    for _ in range(_REPEATS):
        for name, run in runs.items():
            began = time.perf_counter()
            run()
            best[name] = min(best[name], 1000 * (time.perf_counter() - began))
    return {name: round(ms, 2) for name, ms in best.items()}
