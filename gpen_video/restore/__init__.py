"""Face restorers (``protocols.Restorer``): GPEN on torch, and the pass-through; ``build_restorer`` picks one."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..device import resolve_device
from ..errors import InputError
from ..protocols import Restorer
from .gpen import GpenRestorer, to_model_input, to_uint8
from .passthrough import PassthroughRestorer

if TYPE_CHECKING:
    from ..config import RestoreSettings

__all__ = ["GpenRestorer", "PassthroughRestorer", "build_restorer", "to_model_input", "to_uint8"]


def build_restorer(settings: RestoreSettings) -> Restorer:
    """The restorer the ``[restore]`` section asks for.

    "gpen": the registry model ``settings.model``, or the checkpoint ``settings.weights`` (its config
    taken from its file name or its shapes), on ``settings.device``, in fp32 when ``settings.fp32``
    else the device's reduced-precision default. "none": a pass-through of 512 px crops.

    Raises:
        InputError: unknown restorer or device; WeightsError: weights missing, unreachable or invalid.
    """
    from ..models.weights import load_gpen, resolve_weights

    if settings.restorer == "none":
        return PassthroughRestorer(batch_size=settings.batch_size)
    if settings.restorer != "gpen":
        raise InputError(f"unknown restorer {settings.restorer!r} (use gpen or none)")
    device = resolve_device(settings.device)
    path = resolve_weights(settings.model, settings.weights)
    net, _ = load_gpen(path, name=None if settings.weights is not None else settings.model)
    return GpenRestorer(net, device=device, batch_size=settings.batch_size,
                        precision="fp32" if settings.fp32 else "auto", compile=settings.compile,
                        cuda_graphs=settings.cuda_graphs)
