"""The ``[upscale]`` settings section: output scale, background upsampler, tiling."""
from __future__ import annotations

from dataclasses import dataclass

# Background upsampler names and the weights-registry entry each one loads ("lanczos" needs none).
SR_MODELS: dict[str, str] = {
    "realesrgan-x2": "RealESRGAN_x2plus",
    "realesrgan-x4": "RealESRGAN_x4plus",
    "realesrnet-x2": "realesrnet_x2",
    "realesrnet-x4": "realesrnet_x4",
}
UPSAMPLER_NAMES = ("lanczos", *SR_MODELS)
MAX_SCALE = 4


@dataclass
class UpscaleSettings:
    """How much bigger the output is than the input, and how the background gets there."""

    scale: int = 1  # output side / input side, 1..4 (1 = no upscaling)
    bg_upsampler: str = "lanczos"  # lanczos, realesrgan-x2/x4, realesrnet-x2/x4
    bg_weights: str | None = None  # a local super-resolution checkpoint (any architecture spandrel knows)
    tile: int = 512  # network upsamplers run on tiles of this many input pixels (0 = whole frames)


def validation_checks(settings: UpscaleSettings) -> list[tuple[bool, str]]:
    """(ok, message) range checks of the section, for ``config.validate``."""
    return [
        (1 <= settings.scale <= MAX_SCALE, f"upscale must be 1 to {MAX_SCALE}, got {settings.scale}"),
        (settings.bg_upsampler in UPSAMPLER_NAMES,
         f"bg upsampler must be one of {', '.join(UPSAMPLER_NAMES)}, got '{settings.bg_upsampler}'"),
        (settings.tile == 0 or settings.tile >= 32, "tile must be 0 (whole frames) or at least 32 pixels"),
        (settings.scale > 1 or (settings.bg_upsampler == "lanczos" and settings.bg_weights is None),
         "a background upsampler network (bg upsampler, bg weights) needs upscale 2 or more"),
    ]
