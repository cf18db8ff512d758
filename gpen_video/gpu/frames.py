"""The engine's device frame path: each frame uploaded once, its faces cut out and pasted back on a torch device.

A ``protocols.FramePath`` over ``gpu.warp``. ``cut`` uploads the frame (pinned memory and a
non-blocking copy on CUDA; on the CPU the tensor shares the frame's memory) and aligns all of its faces
in one ``grid_sample`` call. The frame and its crops stay on the device until ``paste`` blends the
finished crops into that same frame. A resident path (``resident=True``) also hands the crops out as
device tensors, for a restorer and a blender (``gpu.temporal``) that take and return tensors, so a
crop never visits the host between ``cut`` and ``paste``; otherwise the crops come back to the host
(numpy restorers, the host's temporal blending). ``paste`` takes either.

The plan of each paste (order, regions, masks, alphas, detail bands) is made on the host by
``faces.paste.plan_paste`` from the host-side affines, and carried out by ``gpu.warp.paste_planned``:
the same plan as the host path's. The soft mask is uploaded once per device.

When asked, ``paste`` also converts the pasted frame to the encoder's yuv420p planes on the device
(BT.709, limited range: what ``media.writer`` tags its streams with), so the host skips its own
RGB -> YUV conversion (about 7 ms per 1080p frame with swscale). The pasted RGB frame comes back too:
frame observers (quality metrics, the gallery), side-by-side output and live mode read it. Per 1080p
frame with one 512 face that is about 6 MB up, 6 + 3 MB down, and 1.6 MB of crops both ways unless resident.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .colour import rgb_to_i420
from ..faces.compose import HOST_CROP_OPS
from ..faces.paste import plan_paste
from .crops import TensorCropOps
from .warp import align_crops, paste_planned


@dataclass
class DeviceFaces:
    """What ``DeviceFramePath.cut`` keeps for pasting: the frame uint8 [H, W, 3] and its aligned crops
    uint8 [N, S, S, 3] (the sources of the restorer's change), both on the device."""

    frame: Tensor
    crops: Tensor


class DeviceFramePath:
    """Alignment and paste-back on ``device`` (a torch device or spec such as "cuda:0" or "cpu").

    On the CPU it is slower than the host path (torch's warps are 11-72x slower than OpenCV's there);
    it runs there only when forced, so tests can hold it against the host path.

    Args:
        device: where the frame and its crops live.
        resident: ``cut`` returns the crops as device tensors instead of host arrays.
    """

    name = "device"

    def __init__(self, device: torch.device | str, *, resident: bool = False) -> None:
        self.device = torch.device(device)
        self.resident = resident
        self.crop_ops = TensorCropOps() if resident else HOST_CROP_OPS
        self._cuda = self.device.type == "cuda"

    def upload(self, array: np.ndarray) -> Tensor:
        """A host array on the device: through pinned memory, without blocking the host, on CUDA."""
        host = torch.from_numpy(np.ascontiguousarray(array))
        if not self._cuda:
            return host
        # The caching host allocator keeps the pinned block until the copy that reads it has finished.
        return host.pin_memory().to(self.device, non_blocking=True)

    @torch.inference_mode()
    def cut(self, image: np.ndarray, affines: Sequence[np.ndarray],
            size: int) -> tuple[np.ndarray | Tensor, DeviceFaces]:
        """The faces of ``image`` (uint8 [H, W, 3]) through their frame -> crop ``affines`` (float32 [2, 3]):
        (uint8 [N, S, S, 3] crops, on the device when resident, else on the host; the device state for ``paste``)."""
        frame = self.upload(image)
        crops = align_crops(frame, affines, size)
        return (crops if self.resident else crops.cpu().numpy()), DeviceFaces(frame, crops)

    @torch.inference_mode()
    def paste(self, image: np.ndarray, held: DeviceFaces | None,
              faces: Sequence[tuple[np.ndarray | Tensor, np.ndarray]], *, alphas: Sequence[float],
              masks: np.ndarray | None = None, detail: Sequence[float] | None = None,
              planes: bool = False, weight_out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``faces`` (crop uint8 [S, S, 3], host or device; frame -> crop affine) blended into the frame
        that ``cut`` kept in ``held`` (``image`` on the host; None when the frame had no faces to cut).

        Returns:
            (new uint8 [H, W, 3] host frame, or ``image`` itself without faces; with ``planes`` and an
            even size, its yuv420p planes uint8 [3 H / 2, W] (``gpu.colour.rgb_to_i420``), else None).
        ``masks``: float [N, S, S] in [0, 1] or None for the soft mask; ``detail`` as in ``faces.paste``.
        ``weight_out``: float32 [H, W], or None: receives each pixel's combined paste weight in [0, 1].
        """
        pasted = cover = None
        if faces:
            pasted, cover = self.paste_on_device(held, faces, alphas=alphas, masks=masks, detail=detail,
                                                 weight=weight_out is not None)
        if weight_out is not None:
            weight_out[...] = 0.0 if cover is None else cover.cpu().numpy()
        i420 = None
        if planes and image.shape[0] % 2 == 0 and image.shape[1] % 2 == 0:
            source = pasted if pasted is not None else held.frame if held is not None else self.upload(image)
            i420 = rgb_to_i420(source).cpu().numpy()
        return (image if pasted is None else pasted.cpu().numpy()), i420

    @torch.inference_mode()
    def paste_on_device(self, held: DeviceFaces, faces: Sequence[tuple[np.ndarray | Tensor, np.ndarray]], *,
                        alphas: Sequence[float], masks: np.ndarray | None = None, detail: Sequence[float] | None = None,
                        weight: bool = False) -> tuple[Tensor, Tensor | None]:
        """``paste`` without leaving the device: (the pasted frame uint8 [H, W, 3]; with ``weight``, the
        combined per-pixel paste weight float32 [H, W], else None), both on the device."""
        affines = [affine for _, affine in faces]
        crops = [crop for crop, _ in faces]
        stacked = torch.stack(crops).to(self.device) if isinstance(crops[0], Tensor) else self.upload(np.stack(crops))
        plan = plan_paste(tuple(held.frame.shape[:2]), affines, stacked.shape[1], alphas=alphas,
                          masks=None if masks is None else list(masks), detail=detail)
        device_masks = None if masks is None else self.upload(np.asarray(masks, np.float32))
        return paste_planned(plan, held.frame, stacked, held.crops, masks=device_masks, weight=weight)
