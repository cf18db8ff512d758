"""The ``[restore]`` settings: which restorer runs, where and how, with the names each setting accepts and
the checks that types alone cannot express. Light: no torch."""
from __future__ import annotations

from dataclasses import dataclass

RESTORERS = ("gpen", "none")  # GPEN, or the pass-through
BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")  # what runs GPEN (auto: measured on the CPU)
FRAME_PATHS = ("auto", "host", "device")  # where faces are cut out and pasted (``gpu.frame_path``)


@dataclass
class RestoreSettings:
    """Which restorer runs, where, and how."""

    restorer: str = "gpen"  # one of RESTORERS: "gpen", or "none" (pass-through, for debugging the pipeline)
    model: str = "GPEN-BFR-512"
    weights: str | None = None  # a local checkpoint (.pth) or ONNX graph (.onnx); overrides the registry
    backend: str = "auto"  # auto | torch | onnxruntime | tensorrt (auto: onnxruntime for .onnx, measured on CPU)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    fp32: bool = False  # turn off reduced precision on CUDA
    batch_size: int = 8  # faces per GPEN call, gathered across frames
    compile: bool = False  # torch.compile the model (slow start, faster steady state)
    cuda_graphs: bool = False  # on CUDA, replay each micro-batch as one captured CUDA graph
    frame_path: str = "auto"  # auto | host | device: where faces are cut out and pasted (auto: device on CUDA)


def restore_checks(settings: RestoreSettings) -> list[tuple[bool, str]]:
    """(passes, what it requires) for each range and name check of ``settings``."""
    return [
        (settings.restorer in RESTORERS,
         f"restorer must be {' or '.join(repr(r) for r in RESTORERS)}, got '{settings.restorer}'"),
        (settings.backend in BACKENDS, f"backend must be {', '.join(BACKENDS[:-1])} or {BACKENDS[-1]}, got '{settings.backend}'"),
        (settings.batch_size >= 1, "batch size must be at least 1"),
        (settings.frame_path in FRAME_PATHS,
         f"frame path must be one of {', '.join(FRAME_PATHS)}, got '{settings.frame_path}'"),
    ]
