"""Where models run: device specs, reduced precision, onnxruntime execution providers."""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import torch

from ..errors import InputError

log = logging.getLogger(__name__)

# Autocast dtype of each precision (None: plain fp32).
PRECISION_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str = "auto") -> torch.device:
    """"auto" -> cuda when available else cpu; "cpu"; "cuda" / "cuda:N".

    Raises:
        InputError: CUDA asked for but not available, bad index, or an unknown spec.
    """
    spec = str(spec).strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError as e:
        raise InputError(f"unknown device {spec!r} (use auto, cpu, cuda or cuda:N)") from e
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise InputError(f"unsupported device {spec!r} (use auto, cpu, cuda or cuda:N)")
    if not torch.cuda.is_available():
        raise InputError(f"device {spec!r} asked for, but CUDA is not available")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device {spec!r} does not exist ({torch.cuda.device_count()} CUDA device(s))")
    return dev


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot products (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> CUDA: bf16 where supported else fp16; CPU: bf16 with native bf16 support else fp32.

    Raises:
        InputError: unknown value, or fp16 on CPU (slow, and not validated there).
    """
    if precision not in ("auto", *PRECISION_DTYPES):
        raise InputError(f"precision must be auto, fp32, fp16 or bf16, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_bf16() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise InputError("fp16 is for CUDA only; use fp32 or bf16 on CPU")
    return precision


def onnx_has_cuda() -> bool:
    """True when the installed onnxruntime has its CUDA execution provider (``onnxruntime-gpu``)."""
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def onnx_providers(device: str, activity: str = "running") -> list[str | tuple[str, dict]]:
    """onnxruntime execution providers for a device spec: CUDA first, on the spec's GPU ("cuda:N"),
    when asked for and available.

    ``activity`` names what falls back to the CPU in the warning ("detecting", ...).
    """
    if device.startswith("cuda"):
        if onnx_has_cuda():
            index = device.partition(":")[2] or "0"
            return [("CUDAExecutionProvider", {"device_id": int(index)}), "CPUExecutionProvider"]
        log.warning("onnxruntime has no CUDA execution provider here; %s on the CPU", activity)
    return ["CPUExecutionProvider"]
