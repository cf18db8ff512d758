"""The CPU default backend, chosen by measurement once per environment, then cached.

CPU flags do not predict speed: bf16 autocast was about 2x fp32 on the AMD EPYC this project started
on, but 0.89-0.97x on a Xeon that also reports ``avx512_bf16``. So on first use in an environment, one
small forward of each candidate is timed on a probe GPEN (GPEN-512's layout at 64 px and a quarter of
its width, random weights, batch 1): torch fp32, torch bf16 (on CPUs with native bf16: emulated bf16 was
7-10x slower than fp32 here, so it is not worth the time) and ONNX Runtime fp32 (when the ``onnx``
extra can export the probe). Each is warmed up, then timed alternately with the others and its best time kept.

The timings go to ``$GPEN_VIDEO_HOME/cpu-backend.json``, keyed by the environment (``cache_key``): the
CPU model and cores, the interpreter, and the versions of the backends installed (torch, onnxruntime,
and the ONNX exporter's onnx and onnxscript). Every venv sharing the cache has its own entry, and
installing or upgrading one of them measures again. The fastest candidate that the run allows (fp32
only, when fp32 is asked for) and that can run here is the default; a faster one that cannot (its
packages are gone) is named in a notice.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_FILE = "cpu-backend.json"
# GPEN-512's layout at 64 px and a quarter of its width (128 channels): the same kinds of layers, ~0.1 s a forward
PROBE = {"in_size": 64, "channel_multiplier": 2, "narrow": 0.25, "style_dim": 512, "n_mlp": 8}
CANDIDATES = ("torch fp32", "torch bf16", "onnxruntime fp32")
# module -> the distributions that install it, for the backends a candidate needs
BACKEND_MODULES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"),
    "onnx": ("onnx",),
    "onnxscript": ("onnxscript",),
}
# candidate backend -> the modules it needs for a PyTorch checkpoint (ONNX Runtime runs its export)
NEEDS = {"torch": ("torch",), "onnxruntime": ("onnxruntime", "onnx", "onnxscript")}
_REPEATS = 3


@dataclass(frozen=True)
class CpuChoice:
    """The measured candidates of this environment and the one picked for a run.

    ``timings_ms``: best time of one probe forward per candidate ("torch fp32", ...). ``backend`` is
    "torch" or "onnxruntime", ``precision`` "fp32" or "bf16". ``measured_now``: False when read from the
    cache. ``key``: the cache entry's (``cache_key``). ``notice``: one line when a faster measured
    candidate cannot run here, else None.
    """

    cpu: str
    backend: str
    precision: str
    timings_ms: dict[str, float]
    measured_now: bool
    key: str = ""
    notice: str | None = None

    def as_report(self) -> dict:
        return {"cpu": self.cpu, "key": self.key, "backend": self.backend, "precision": self.precision,
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


def installed_backends() -> dict[str, str]:
    """{module: version} of the ``BACKEND_MODULES`` that are importable here, found without importing them.

    The version is the installing distribution's, "unknown" for a module without one.
    """
    found = {}
    for module, distributions in BACKEND_MODULES.items():
        if importlib.util.find_spec(module) is not None:
            found[module] = next((v for v in map(distribution_version, distributions) if v), "unknown")
    return found


def distribution_version(name: str) -> str | None:
    """The installed version of the distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cache_key(backends: Mapping[str, str] | None = None) -> str:
    """This environment's entry in the cache: CPU, interpreter and backend versions (default: ``installed_backends()``).

    e.g. "AMD EPYC 7B13 x2 | CPython 3.11.7 | torch 2.5.1 | onnxruntime 1.20.0 | onnx 1.17.0 | onnxscript 0.1.0".
    """
    backends = installed_backends() if backends is None else backends
    parts = [cpu_key(), f"{platform.python_implementation()} {platform.python_version()}"]
    return " | ".join(parts + [f"{module} {version}" for module, version in sorted(backends.items())])


def missing_for(candidate: str, backends: Mapping[str, str]) -> list[str]:
    """The modules that ``candidate`` ("onnxruntime fp32", ...) needs and ``backends`` lacks."""
    return [module for module in NEEDS[candidate.split()[0]] if module not in backends]


def cache_path() -> Path:
    """``$GPEN_VIDEO_HOME/cpu-backend.json``."""
    from ..models.weights import cache_dir

    return cache_dir() / CACHE_FILE


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _cached_timings(cache: dict, key: str) -> dict[str, float] | None:
    entry = cache.get(key)
    if not (isinstance(entry, dict) and isinstance(entry.get("probe_ms"), dict) and entry["probe_ms"]):
        return None
    return {k: float(v) for k, v in entry["probe_ms"].items()}


def choose_cpu_backend(*, fp32_only: bool = False, remeasure: bool = False,
                       measure: Callable[[], dict[str, float]] | None = None) -> CpuChoice:
    """The fastest allowed candidate that can run in this environment: from the cache, else measured now (and cached).

    ``remeasure``: measure even when the cache has this environment. ``measure`` returns {candidate: ms};
    it defaults to ``measure_candidates``. An unwritable cache only costs a new measurement next time.
    """
    backends = installed_backends()
    path, key = cache_path(), cache_key(backends)
    cache = _read_cache(path)
    timings = None if remeasure else _cached_timings(cache, key)
    fresh = timings is None
    if timings is None:
        log.warning("measuring which GPEN backend is fastest on this CPU (once per environment, 10-30 s; cached in %s)",
                    path)
        timings = (measure or measure_candidates)()
        cache[key] = {"probe_ms": timings, "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            from ..media.output import write_json_atomic

            write_json_atomic(path, cache)
        except OSError as exc:
            log.warning("could not cache the CPU backend choice in %s: %s", path, exc)
    allowed = {k: v for k, v in timings.items() if k in CANDIDATES and not (fp32_only and k.endswith("bf16"))}
    runnable = {k: v for k, v in allowed.items() if not missing_for(k, backends)}
    best = min(runnable, key=runnable.get) if runnable else "torch fp32"
    fastest = min(allowed, key=allowed.get) if allowed else best
    notice = None
    if fastest != best:
        notice = (f"{fastest} was measured fastest on this CPU, but {', '.join(missing_for(fastest, backends))} "
                  f"cannot be imported here; running {best}")
    backend, precision = best.split()
    return CpuChoice(cpu_key(), backend, precision, timings, fresh, key, notice)


def cached_choice() -> CpuChoice | None:
    """This environment's cached measurement and pick (any precision), or None when it was never measured."""
    if _cached_timings(_read_cache(cache_path()), cache_key()) is None:
        return None
    return choose_cpu_backend()


def measure_candidates() -> dict[str, float]:
    """Best milliseconds of one probe forward (batch 1) for each candidate this machine can run."""
    import numpy as np
    import torch

    from ..models.device import cpu_has_bf16
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
