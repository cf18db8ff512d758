"""The live window: the enhanced stream in an OpenCV window with an fps/latency/faces overlay.

Colour is RGB everywhere in the package; the conversion to OpenCV's BGR happens here, at the window.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from ..errors import NoDisplayError


@dataclass(frozen=True)
class LiveStatus:
    """What the overlay and the status line show after a frame."""

    frames: int
    fps: float
    latency: float  # seconds, last frame
    faces: int  # in the last frame
    dropped: int
    reconnects: int
    enhance: bool = True
    temporal: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"{self.fps:4.1f} fps  {self.latency * 1000:4.0f} ms",
            f"faces {self.faces}  dropped {self.dropped}" + (f"  reconnects {self.reconnects}" if self.reconnects else ""),
            f"enhance {'on' if self.enhance else 'OFF'}  temporal {self.temporal:.1f}",
        ]


def compose_view(original: np.ndarray, enhanced: np.ndarray, side_by_side: bool) -> np.ndarray:
    """The picture to show: ``enhanced``, or original | enhanced (uint8 [H, W or 2W, 3] RGB)."""
    return np.hstack([original, enhanced]) if side_by_side else enhanced


def draw_overlay(bgr: np.ndarray, lines: list[str]) -> np.ndarray:
    """Write ``lines`` in the top-left corner of ``bgr`` (uint8 [H, W, 3], modified in place and returned)."""
    scale = max(0.4, min(bgr.shape[:2]) / 720)
    step = int(28 * scale) + 4
    for k, text in enumerate(lines):
        origin = (8, step * (k + 1))
        cv2.putText(bgr, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)  # outline
        cv2.putText(bgr, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return bgr


class LiveView(Protocol):
    """Where live mode shows its frames: ``LiveWindow``, or a test's stand-in."""

    def show(self, view: np.ndarray, lines: list[str]) -> str | None:
        """Show uint8 [H, W, 3] RGB ``view`` with the status ``lines``; the key pressed meanwhile, if any."""

    def close(self) -> None:
        """Close the view; called once, when the run ends."""


class LiveWindow:
    """The OpenCV window: the live view with an fps/latency/faces overlay, and the keys pressed in it.

    Raises:
        NoDisplayError: there is no display to open a window on, or OpenCV cannot open one.
    """

    CLOSED = "q"  # what :meth:`show` returns once the user closed the window: the quit key

    def __init__(self, title: str = "gpen-video live") -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            # Qt aborts the whole process without a display, so check before asking it.
            raise NoDisplayError("DISPLAY is not set")
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        except cv2.error as exc:
            raise NoDisplayError(f"OpenCV cannot open a window: {exc}") from None

    def show(self, view: np.ndarray, lines: list[str]) -> str | None:
        """Show one picture (uint8 [H, W, 3] RGB); returns the key pressed meanwhile, if any
        (``CLOSED`` when the window was closed)."""
        cv2.imshow(self.title, draw_overlay(cv2.cvtColor(view, cv2.COLOR_RGB2BGR), lines))
        code = cv2.waitKey(1) & 0xFF
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return self.CLOSED
        return None if code == 0xFF else chr(code)

    def close(self) -> None:
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)  # let the GUI loop actually remove it
