"""Monochrome footage stays monochrome: find grey, sepia and infrared scenes, and give their restored
faces the input's colour.

A restorer trained on colour faces paints skin tones onto a grey face. In a monochrome scene the
restored crop therefore keeps only its luminance: the input crop shifted by the luminance difference,
``source + (Y(restored) - Y(source))`` on all three channels. Adding the same amount to R, G and B
leaves the chroma as it was (for any luma weights summing to 1), so a grey face stays exactly grey.

Monochrome means the chroma is a function of the luma alone: grey (chroma 0), sepia or any toned
print (chroma follows one tone curve), infrared (grey). The test runs on a 64x64 thumbnail in YCrCb:
pixels are binned by luma (16 bins); the *spread* is the 95th percentile of each pixel's chroma
distance from its bin's median chroma. A frame is monochrome when the spread is at most
max(2 levels, 0.15 x the 95th percentile of the chroma's distance from neutral grey): the floor
accepts what compression leaves on grey footage, the relative term accepts strongly toned sepia, and a
dark colour frame (little chroma, but not along one tone) is still colour. Measured on the test media:
colour frames 21-31, darkened to 15 % 2.8-4.5 (threshold 2); grey 0, sepia 2.2-3.2 (threshold 5-6).
"""
from __future__ import annotations

import cv2
import numpy as np

from .settings import COLOR_MODES

_THUMB = 64
_LUMA_BINS = 16
_SPREAD_FLOOR = 2.0  # chroma levels (0-255)
_SPREAD_RATIO = 0.15
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601; any weights summing to 1 keep chroma


def chroma_spread(image: np.ndarray) -> tuple[float, float]:
    """(spread, tint) of an RGB uint8 [H, W, 3] image, in chroma levels (0-255).

    spread: 95th percentile of the chroma's distance from the median chroma of pixels of similar luma.
    tint: 95th percentile of the chroma's distance from neutral grey.
    """
    thumb = cv2.resize(image, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA)
    ycc = cv2.cvtColor(thumb, cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.float32)
    chroma = ycc[:, 1:]
    bins = ycc[:, 0].astype(np.int64) * _LUMA_BINS // 256
    distance = np.empty(len(ycc), np.float32)
    for b in np.unique(bins):
        members = bins == b
        distance[members] = np.linalg.norm(chroma[members] - np.median(chroma[members], axis=0), axis=1)
    tint = np.linalg.norm(chroma - 128.0, axis=1)
    return float(np.percentile(distance, 95)), float(np.percentile(tint, 95))


def is_monochrome(image: np.ndarray) -> bool:
    """True for a grey, toned (sepia) or infrared RGB uint8 [H, W, 3] frame; see the module docstring."""
    spread, tint = chroma_spread(image)
    return spread <= max(_SPREAD_FLOOR, _SPREAD_RATIO * tint)


def keep_luminance(restored: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The restored crop's luminance with the source crop's chroma: uint8 [S, S, 3] RGB.

    Args:
        restored: uint8 [S, S, 3] RGB, the restorer's output.
        source: uint8 [S, S, 3] RGB, the aligned input crop it was given.
    """
    src = source.astype(np.float32)
    shift = (restored.astype(np.float32) - src) @ _LUMA  # [S, S] luma difference
    return np.clip(np.rint(src + shift[..., None]), 0, 255).astype(np.uint8)


class SceneColour:
    """Decides, frame by frame, whether restored faces keep the input's colour.

    Modes: "input" always, "restored" never (the restorer's colour), "auto" in monochrome scenes. In
    "auto" a scene counts as monochrome until one of its frames shows colour, then as colour until the
    next scene cut: monochrome footage never shows colour, while a colour scene that opens on a black
    or grey frame switches once, and a frame that merely looks grey inside a colour scene switches
    nothing. Frames of a colour scene are not tested again.
    """

    def __init__(self, mode: str = "auto") -> None:
        if mode not in COLOR_MODES:
            raise ValueError(f"colour mode must be one of {', '.join(COLOR_MODES)}, got {mode!r}")
        self.mode = mode
        self._monochrome = True

    def keeps_input_colour(self, image: np.ndarray, scene_cut: bool = False) -> bool:
        """For the next frame (RGB uint8 [H, W, 3]); ``scene_cut`` when it starts a new scene."""
        if self.mode != "auto":
            return self.mode == "input"
        if scene_cut:
            self._monochrome = True
        if self._monochrome:
            self._monochrome = is_monochrome(image)
        return self._monochrome
