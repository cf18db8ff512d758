"""OpenCVCamera: a webcam through OpenCV's VideoCapture, for devices PyAV cannot open."""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from fractions import Fraction

import cv2
import numpy as np

from ..errors import MediaOpenError
from ..types import Frame
from .info import VideoInfo
from .source import is_device


class OpenCVCamera:
    """A webcam through OpenCV's VideoCapture (V4L2 on Linux); a :class:`FrameSource`.

    Yields :class:`Frame` with uint8 [H, W, 3] RGB images, ``pts=None`` and ``time`` = capture time
    (``time.monotonic()``). Also reads files (used by the tests). Iteration ends when the camera
    stops delivering.

    Raises:
        MediaOpenError: the device cannot be opened or delivers no frame.
    """

    def __init__(self, source: str | int) -> None:
        cv2.setLogLevel(0)  # silent: a camera that fails to open is reported by us, in one line
        api = cv2.CAP_V4L2 if is_device(source) and sys.platform.startswith("linux") else cv2.CAP_ANY
        self.source = source
        self._capture = cv2.VideoCapture(source, api)
        ok, first = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok:
            self._capture.release()
            raise MediaOpenError(f"OpenCV cannot open {source!r} as a camera")
        self._first: np.ndarray | None = first
        height, width = first.shape[:2]
        rate = self._capture.get(cv2.CAP_PROP_FPS)
        fps = Fraction(rate).limit_denominator(1001) if rate and rate > 0 else None
        self.info = VideoInfo(
            width=width, height=height, fps=fps, time_base=Fraction(1, 1000), start_time=0.0, duration=None,
            frame_count=None, sample_aspect_ratio=None, rotation=0, is_live=True, codec="opencv", has_audio=False,
        )

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            if self._first is not None:
                bgr, self._first = self._first, None
            else:
                ok, bgr = self._capture.read()
                if not ok:
                    return
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # OpenCV hands out BGR; the package works in RGB
            yield Frame(index=index, pts=None, time_base=self.info.time_base, image=rgb, time=time.monotonic())
            index += 1

    def close(self) -> None:
        self._capture.release()
