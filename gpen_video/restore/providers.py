"""ONNX Runtime execution providers for the restorer, in order of preference, with their options.

TensorRT (``backend="tensorrt"`` only: building an engine takes minutes the first time; engines are
cached under ``$GPEN_VIDEO_HOME/tensorrt``, fp16 unless fp32 is asked for), then CUDA on the device's
index, then DirectML (Windows) and CoreML (macOS), then the CPU. A GPU provider this onnxruntime lacks
is a notice and the next one is used; asking for TensorRT where it is absent is an error.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from ..models.device import resolve_device
from ..errors import InputError

log = logging.getLogger(__name__)

TENSORRT, CUDA, DIRECTML, COREML, CPU = ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                                          "DmlExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider")
ONNX_BACKENDS = ("onnxruntime", "tensorrt")
PIPELINE_CORES = 1  # decode, detect, paste and encode share about one core while GPEN runs
_FEW_CORES = 2  # at or below this many cores the restorer takes them all: it is the bottleneck by far


@dataclass(frozen=True)
class ProviderPlan:
    """Providers to give ``InferenceSession`` (name, options), best first, and where the model runs.

    ``device`` is "cpu" or "cuda:N" (a torch device spec: CUDA and TensorRT bind torch buffers there).
    """

    providers: list[tuple[str, dict[str, str]]]
    device: str
    notices: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.providers]


def free_cores() -> int:
    """Threads for the restorer's intra-op pool: the cores this process may use, less the pipeline's share.

    "Cores this process may use" is its CPU affinity, capped by torch's thread budget (a batch worker
    gets ``cpu_count / workers``).
    """
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    usable = max(1, min(usable, torch.get_num_threads()))
    return usable if usable <= _FEW_CORES else usable - PIPELINE_CORES


def plan_providers(backend: str, device: str, *, fp16: bool, engine_cache: str, available: list[str]) -> ProviderPlan:
    """The providers for ``backend`` ("onnxruntime" | "tensorrt") on ``device`` ("auto", "cpu", "cuda[:N]").

    ``available`` is ``onnxruntime.get_available_providers()``; ``engine_cache`` the TensorRT cache folder.

    Raises:
        InputError: unknown backend or device spec, CUDA asked for where there is none, or TensorRT asked
            for where this onnxruntime has no TensorRT provider.
    """
    if backend not in ONNX_BACKENDS:
        raise InputError(f"unknown ONNX backend {backend!r} (use {' or '.join(ONNX_BACKENDS)})")
    if backend == "tensorrt" and TENSORRT not in available:
        raise InputError(f"this onnxruntime has no TensorRT execution provider (it has {', '.join(available)}); "
                         "install onnxruntime-gpu built with TensorRT")
    spec = str(device).strip().lower()
    if spec == "cpu":
        return ProviderPlan([(CPU, {})], "cpu")
    import torch

    if spec == "auto" and not torch.cuda.is_available():
        local = [(name, {}) for name in (DIRECTML, COREML) if name in available]
        if backend == "tensorrt":
            raise InputError("TensorRT needs a CUDA device, and none is available")
        return ProviderPlan([*local, (CPU, {})], "cpu")
    dev = resolve_device("cuda" if spec == "auto" else spec)
    if dev.type != "cuda":
        return ProviderPlan([(CPU, {})], "cpu")
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    providers: list[tuple[str, dict[str, str]]] = []
    if backend == "tensorrt":
        providers.append((TENSORRT, {"device_id": str(index), "trt_fp16_enable": str(fp16),
                                     "trt_engine_cache_enable": "True", "trt_engine_cache_path": engine_cache,
                                     "trt_timing_cache_enable": "True", "trt_timing_cache_path": engine_cache}))
    notices = []
    if CUDA in available:
        providers.append((CUDA, {"device_id": str(index)}))
    else:
        notices.append("onnxruntime has no CUDA execution provider here (pip install onnxruntime-gpu); "
                       "restoring on the CPU")
    if not providers:
        return ProviderPlan([(CPU, {})], "cpu", notices)
    return ProviderPlan([*providers, (CPU, {})], f"cuda:{index}", notices)
