"""``build_upsampler``: the background upsampler an ``[upscale]`` section asks for."""
from __future__ import annotations

from .base import Upsampler
from .lanczos import LanczosUpsampler
from .settings import SR_MODELS, UpscaleSettings


def build_upsampler(settings: UpscaleSettings, *, device: str = "cpu", precision: str = "auto") -> Upsampler:
    """Lanczos, or a network from the weights registry or ``settings.bg_weights``, at ``settings.scale``.

    Scale 1 always gives the (identity) Lanczos upsampler and loads nothing. A ``bg_weights`` file is
    used whatever ``bg_upsampler`` names: it is the user's own network.

    Args:
        device: where a network runs (the restorer's device).
        precision: "auto" (bf16/fp16 where safe) or "fp32".

    Raises:
        WeightsError: weights missing (offline: names the exact path), unreadable or not an SR model.
        MissingExtra: a network was asked for and spandrel is not installed.
    """
    if settings.scale == 1 or (settings.bg_upsampler == "lanczos" and settings.bg_weights is None):
        return LanczosUpsampler(settings.scale)
    from ..models.weights import resolve_weights
    from .spandrel_sr import SpandrelUpsampler, load_sr_model

    path = settings.bg_weights or resolve_weights(SR_MODELS[settings.bg_upsampler])
    return SpandrelUpsampler(load_sr_model(path), scale=settings.scale, device=device, precision=precision,
                             tile=settings.tile)
