"""Where the engine cuts faces out of frames and pastes them back: the host (numpy/OpenCV) or the
restorer's torch device (``gpu.frames``), chosen once per engine from ``[restore] frame_path``.

"auto" takes the device path when the restorer runs on CUDA and the host path otherwise: on the CPU
OpenCV's warps were measured 11-72x faster than torch's, so the CPU keeps them. Both paths carry out
the same paste plan (``faces.paste.plan_paste``) and give the same pictures
(tests/test_engine_device_path.py: face-region PSNR >= 45 dB on the real clips).

Not on the device yet, so the host path runs instead, with the reason in ``FramePathChoice.reason``:
output enlarged by an upsampler (``upscale.scale`` > 1; the enlarged frame comes from the upsampler
as a host array).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..faces.align import warp_to_crop
from ..faces.compose import HOST_CROP_OPS
from ..faces.paste import paste_faces
from ..protocols import FramePath
from ..restore.settings import FRAME_PATHS

log = logging.getLogger(__name__)


class HostFramePath:
    """Alignment with ``cv2.warpAffine`` and ``faces.paste.paste_faces``: numpy in and out; the handle is
    the crops that ``cut`` made, the sources of the restorer's change when they are pasted into the same frame."""

    name = "host"
    resident = False
    crop_ops = HOST_CROP_OPS

    def cut(self, image: np.ndarray, affines: Sequence[np.ndarray],
            size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """N uint8 [S, S, 3] crops of ``image`` (uint8 [H, W, 3]) through the frame -> crop ``affines``, twice:
        the crops, and the handle for ``paste``."""
        crops = [warp_to_crop(image, affine, size) for affine in affines]
        return crops, crops

    def paste(self, image: np.ndarray, held: list[np.ndarray] | None, faces: Sequence[tuple[np.ndarray, np.ndarray]],
              *, alphas: Sequence[float], masks: np.ndarray | None = None, detail: Sequence[float] | None = None,
              planes: bool = False, weight_out: np.ndarray | None = None) -> tuple[np.ndarray, None]:
        """(``faces.paste.paste_faces`` into a copy of ``image``, or ``image`` itself without faces; None:
        the encoder converts to YUV itself). ``held``: what ``cut`` returned for ``image`` itself, or None
        (another frame, such as an enlarged one: its crops are cut again where needed). The paste weight goes
        into ``weight_out``."""
        if not faces:
            if weight_out is not None:
                weight_out[...] = 0.0
            return image, None
        masks = None if masks is None else list(masks)
        return paste_faces(image, faces, alphas=alphas, masks=masks, detail=detail, sources=held,
                           weight_out=weight_out), None


@dataclass(frozen=True)
class FramePathChoice:
    """The path an engine uses ("host" or "device"), and why (for logs and reports)."""

    name: str
    reason: str


def choose_frame_path(setting: str, device: str, *, upscale: int = 1) -> FramePathChoice:
    """The frame path for ``[restore] frame_path`` (auto | host | device) and the restorer's ``device``.

    Raises:
        ValueError: an unknown setting (``config.validate`` reports it to users first).
    """
    if setting not in FRAME_PATHS:
        raise ValueError(f"frame path must be one of {', '.join(FRAME_PATHS)}, got {setting!r}")
    if setting == "host":
        return FramePathChoice("host", "asked for")
    on_cuda = device.startswith("cuda")
    if setting == "auto" and not on_cuda:
        return FramePathChoice("host", f"the restorer runs on {device}: OpenCV is faster there than torch")
    if upscale > 1:
        return FramePathChoice("host", f"upscale x{upscale} enlarges frames on the host; the device path does "
                                       "not paste into an enlarged frame yet")
    return FramePathChoice("device", "asked for" if setting == "device" else f"the restorer runs on {device}")


def build_frame_path(setting: str, device: str, *, upscale: int = 1,
                     resident: bool = False) -> tuple[FramePath, FramePathChoice]:
    """The chosen path, ready (the device path on ``device``, keeping the crops there when ``resident``:
    for a ``protocols.TensorRestorer``), and the choice; a fallback is logged."""
    choice = choose_frame_path(setting, device, upscale=upscale)
    if setting == "device" and choice.name == "host":
        log.warning("frame path: the host path runs instead of the device path: %s", choice.reason)
    if choice.name == "host":
        return HostFramePath(), choice
    from .frames import DeviceFramePath  # torch's frame ops only where they run

    return DeviceFramePath(device, resident=resident), choice
