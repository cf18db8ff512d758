"""Optional face-parsing masks (facexlib ParseNet) to replace the geometric paste-back mask."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import WeightsError
from .paste import soft_mask

# ParseNet's 19 CelebAMask-HQ classes: 0 background, 1 skin, 2-3 brows, 4-5 eyes, 6 glasses, 7-8 ears,
# 9 earring, 10 nose, 11 mouth, 12-13 lips, 14 neck, 15 necklace, 16 cloth, 17 hair, 18 hat.
# Kept: the face itself and the hair; dropped: background, neck and what is worn below or on top.
KEEP_CLASSES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17)
PARSE_SIZE = 512


class FaceParser:
    """Soft face masks for aligned crops from facexlib's ParseNet.

    Args:
        weights: path to ``parsing_parsenet.pth``.
        device: "cpu" or "cuda[:N]".
    """

    def __init__(self, weights: Path, device: str = "cpu"):
        import torch
        from facexlib.parsing.parsenet import ParseNet

        from ..models.device import resolve_device
        from ..models.weights import load_state_dict

        self._torch, self._device = torch, resolve_device(device)
        state = load_state_dict(weights)
        net = ParseNet(in_size=PARSE_SIZE, out_size=PARSE_SIZE, parsing_ch=19)
        try:
            net.load_state_dict(state, strict=True)
        except (RuntimeError, TypeError) as exc:
            raise WeightsError(f"{weights} does not fit ParseNet: {exc}") from exc
        self._net = net.to(self._device).eval()
        self._keep = torch.zeros(19, dtype=torch.bool)
        self._keep[list(KEEP_CLASSES)] = True

    def masks(self, crops: np.ndarray) -> np.ndarray:
        """Masks float32 [N, S, S] in [0, 1] for aligned crops uint8 [N, S, S, 3] RGB.

        Class labels are feathered (blur of about 1 % of the crop) and capped by ``soft_mask`` so the
        crop border never shows.
        """
        torch = self._torch
        n, size = crops.shape[0], crops.shape[1]
        if n == 0:
            return np.zeros((0, size, size), np.float32)
        batch = crops if size == PARSE_SIZE else np.stack([cv2.resize(c, (PARSE_SIZE,) * 2) for c in crops])
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self._device).permute(0, 3, 1, 2).float()
        x = x / 127.5 - 1.0  # ParseNet takes RGB in [-1, 1]
        with torch.inference_mode():
            labels = self._net(x)[0].argmax(dim=1).cpu()
        keep = self._keep[labels].numpy().astype(np.float32)
        sigma = max(size / 100.0, 1.0)
        out = np.empty((n, size, size), np.float32)
        for k in range(n):
            m = keep[k] if size == PARSE_SIZE else cv2.resize(keep[k], (size, size), interpolation=cv2.INTER_LINEAR)
            out[k] = cv2.GaussianBlur(m, (0, 0), sigmaX=sigma) * soft_mask(size)
        return out
