"""Which restorer a run gets (``build_restorer``) and which backend runs GPEN (``resolve_backend``)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..models.device import resolve_device
from ..errors import InputError
from ..protocols import Restorer
from .gpen import GpenRestorer
from .passthrough import PassthroughRestorer
from .settings import BACKENDS

if TYPE_CHECKING:
    from .settings import RestoreSettings

log = logging.getLogger(__name__)

def resolve_backend(settings: RestoreSettings, weights: Path) -> tuple[str, str]:
    """(backend, torch precision) for a run: the asked backend, else "onnxruntime" for an ``.onnx``
    file, else on the CPU the measured fastest that can run here (``cpu_choice``), else torch. Precision is "fp32" with
    ``settings.fp32``, else "auto" unless the CPU measurement picked one.

    Raises:
        InputError: unknown backend or device, or the torch backend asked to run an ONNX file.
    """
    from ..models.weights import is_onnx

    if settings.backend not in BACKENDS:
        raise InputError(f"unknown backend {settings.backend!r} (use {', '.join(BACKENDS)})")
    precision = "fp32" if settings.fp32 else "auto"
    if settings.backend == "torch" and is_onnx(weights):
        raise InputError(f"the torch backend runs PyTorch checkpoints, not the ONNX graph {weights.name}")
    if settings.backend != "auto":
        return settings.backend, precision
    if is_onnx(weights):
        return "onnxruntime", precision
    if resolve_device(settings.device).type != "cpu":
        return "torch", precision
    from .cpu_choice import choose_cpu_backend

    choice = choose_cpu_backend(fp32_only=settings.fp32)
    if choice.notice:
        log.warning("%s", choice.notice)
    return choice.backend, choice.precision


def build_restorer(settings: RestoreSettings) -> Restorer:
    """The restorer the ``[restore]`` section asks for.

    "gpen": the registry model ``settings.model``, or the file ``settings.weights`` (a PyTorch checkpoint,
    its config taken from its file name or its shapes, or an ONNX graph), on ``settings.device``, run by
    ``settings.backend`` (see ``resolve_backend``). An ONNX backend given a checkpoint runs its ONNX
    export, made once and cached (needs the ``onnx`` extra). "none": a pass-through of 512 px crops.

    Raises:
        InputError: unknown restorer, backend or device; MissingExtra: an export is needed without the
            onnx extra; WeightsError: weights missing, unreachable or unusable.
    """
    from ..models.weights import is_onnx, resolve_weights

    if settings.restorer == "none":  # its neighbours run where GPEN would, and a device that is not here is refused
        return PassthroughRestorer(batch_size=settings.batch_size, device=str(resolve_device(settings.device)))
    if settings.restorer != "gpen":
        raise InputError(f"unknown restorer {settings.restorer!r} (use gpen or none)")
    weights = _cached_registry_export(settings) or resolve_weights(settings.model, settings.weights)
    backend, precision = resolve_backend(settings, weights)
    if backend == "torch":
        return _torch_restorer(settings, weights, precision)
    import onnxruntime as ort

    from ..models.weights import cache_dir
    from .onnx import OnnxRestorer
    from .providers import plan_providers

    graph = weights if is_onnx(weights) else _export_once(settings, weights)
    plan = plan_providers(backend, settings.device, fp16=not settings.fp32, engine_cache=str(cache_dir() / "tensorrt"),
                          available=ort.get_available_providers())
    return OnnxRestorer(graph, plan, batch_size=settings.batch_size, pad=backend == "tensorrt")


def _torch_restorer(settings: RestoreSettings, weights: Path, precision: str) -> GpenRestorer:
    from ..models.weights import load_gpen

    net, _ = load_gpen(weights, name=None if settings.weights is not None else settings.model)
    return GpenRestorer(net, device=resolve_device(settings.device), batch_size=settings.batch_size,
                        precision=precision, compile=settings.compile, cuda_graphs=settings.cuda_graphs,
                        name=str(weights))


def _cached_registry_export(settings: RestoreSettings) -> Path | None:
    """The cached ONNX export of the registry model, when an ONNX backend is asked for and it exists."""
    if settings.weights is not None or settings.backend not in ("onnxruntime", "tensorrt"):
        return None
    from ..models.weights import REGISTRY, cache_dir

    path = cache_dir() / f"{settings.model}.onnx"
    return path if settings.model in REGISTRY and path.is_file() else None


def _export_once(settings: RestoreSettings, checkpoint: Path) -> Path:
    """The cached ONNX export of ``checkpoint`` (dynamic batch, fp32), made now if missing.

    The checkpoint is loaded (and so checked) before the notice: a refused file never announces an export.
    """
    from ..models.onnx import export_onnx, load_checkpoint, require_onnx
    from ..models.weights import onnx_export_path

    dest = onnx_export_path(settings.model if settings.weights is None else None, checkpoint)
    if not dest.is_file():
        require_onnx()
        loaded = load_checkpoint(settings.model, settings.weights)
        log.warning("exporting %s to ONNX once (cached as %s)", checkpoint.name, dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(loaded.net, dest, name=loaded.name, source_sha256=loaded.sha256, dynamic_batch=True)
    return dest
