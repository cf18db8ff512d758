"""The virtual camera: live mode's output as a webcam that video-call and streaming apps can pick.

    run loop ─▶ CameraFeed.offer (fit to the camera size) ─▶ held frame ─▶ feed thread, one send per tick

The camera runs at a fixed rate whatever the engine does: the feed thread hands the newest enhanced
frame to the camera at every tick and sends the held (last) frame again when no newer one came, so
the consumer always sees a steady stream and the engine's own latency policy stays unchanged.

pyvirtualcam does the platform work (v4l2loopback on Linux, OBS's virtual camera on Windows and
macOS); it sits behind :class:`VirtualCamera` so that everything else is tested at that boundary.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import cv2
import numpy as np

from ..errors import MissingExtra, VirtualCameraUnavailable
from .latency import LatencyTracker

DEFAULT_FPS = 30.0  # for sources that do not say their rate

LINUX_REMEDY = ("load the v4l2loopback kernel module: sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
                "(install the v4l2loopback-dkms package first if modprobe cannot find it)")
OBS_REMEDY = "install OBS Studio 28 or newer and start and stop its virtual camera once (Tools > Start Virtual Camera)"


class VirtualCamera(Protocol):
    """A virtual camera device: takes uint8 [height, width, 3] RGB frames at ``fps``."""

    width: int
    height: int
    fps: float
    device: str  # what consumers see, e.g. /dev/video10 or "OBS Virtual Camera"

    def send(self, rgb: np.ndarray) -> None: ...

    def close(self) -> None: ...


class PyVirtualCamera:
    """:class:`VirtualCamera` through pyvirtualcam (its own pacing is not used: see :class:`CameraFeed`)."""

    def __init__(self, camera) -> None:  # a pyvirtualcam.Camera opened with fmt=PixelFormat.RGB
        self._camera = camera
        self.width, self.height, self.fps = camera.width, camera.height, float(camera.fps)
        self.device = camera.device

    def send(self, rgb: np.ndarray) -> None:
        self._camera.send(rgb)

    def close(self) -> None:
        self._camera.close()


def remedy_for(platform: str) -> str:
    """What to install or load to get a virtual camera backend on ``platform`` (``sys.platform``)."""
    return LINUX_REMEDY if platform.startswith("linux") else OBS_REMEDY


def open_virtual_camera(width: int, height: int, fps: float, device: str = "") -> PyVirtualCamera:
    """Open pyvirtualcam's first working backend (or ``device``) for RGB frames of this size and rate.

    Raises:
        MissingExtra: pyvirtualcam is not installed (the ``live`` extra).
        VirtualCameraUnavailable: no backend works here (no loopback device, no OBS), or ``device``
            is missing or busy; the message says what to install or load.
    """
    try:
        import pyvirtualcam
    except ImportError:
        raise MissingExtra("pyvirtualcam", "live") from None
    try:
        camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device or None)
    except (RuntimeError, ValueError) as exc:
        reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise VirtualCameraUnavailable(reason or type(exc).__name__, remedy_for(sys.platform)) from None
    return PyVirtualCamera(camera)


def camera_size(source: tuple[int, int], wanted: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the camera: ``wanted`` or else the source's, rounded down to even numbers
    (backends convert to 4:2:0 formats, which need them)."""
    width, height = wanted if wanted[0] and wanted[1] else source
    return max(2, width - width % 2), max(2, height - height % 2)


def camera_fps(source_fps: Fraction | float | None, wanted: float) -> float:
    """The camera's rate: ``wanted``, else the source's, else :data:`DEFAULT_FPS`."""
    return float(wanted or source_fps or DEFAULT_FPS)


def fit_frame(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` (uint8 [H, W, 3]) scaled to fit [height, width, 3] whole, keeping its shape, centred on
    black (letterbox or pillarbox). Contiguous uint8, as camera backends want; the input is not changed."""
    src_h, src_w = image.shape[:2]
    if (src_w, src_h) == (width, height):
        return np.ascontiguousarray(image, dtype=np.uint8)
    scale = min(width / src_w, height / src_h)
    fit_w, fit_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    shrink = scale < 1
    scaled = cv2.resize(image, (fit_w, fit_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if (fit_w, fit_h) == (width, height):
        return scaled
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - fit_h) // 2, (width - fit_w) // 2
    canvas[top:top + fit_h, left:left + fit_w] = scaled
    return canvas


class FramePacer:
    """When the next frame is due at a fixed rate: ticks at ``start + k / fps`` (seconds, one clock).

    Pure: time is passed in. A send that comes late is not made up with a burst; ticks that passed
    meanwhile are skipped (and counted), so the schedule keeps its grid.
    """

    def __init__(self, fps: float, start: float) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.period = 1.0 / fps
        self.start = start
        self.ticks = 0  # ticks passed, sent or skipped: ``due`` is computed, so no error accumulates
        self.skipped = 0

    @property
    def due(self) -> float:
        """Seconds of the next tick."""
        return self.start + self.ticks * self.period

    def wait(self, now: float) -> float:
        """Seconds until the next tick (0 when it is due)."""
        return max(0.0, self.due - now)

    def advance(self, now: float) -> None:
        """A frame went out at ``now``: the next tick is the first one after ``now``."""
        self.ticks += 1
        if self.due <= now:
            missed = int((now - self.due) / self.period) + 1
            self.ticks += missed
            self.skipped += missed


@dataclass
class CameraStats:
    """What the virtual camera got: ``sent`` frames in all, ``fresh`` of them new enhanced frames,
    ``held`` repeats of the last one (the engine was slower than the camera), ``blank`` black frames
    before the first one, ``skipped`` ticks missed because a send came late, ``replaced`` frames
    offered but replaced by a newer one before the next tick (the engine was faster)."""

    device: str
    width: int
    height: int
    fps: float
    sent: int = 0
    fresh: int = 0
    held: int = 0
    blank: int = 0
    skipped: int = 0
    replaced: int = 0


class CameraFeed:
    """Feeds a :class:`VirtualCamera` at its own rate from the newest offered frame; thread-safe.

    ``offer`` (the run loop) fits a frame to the camera size and replaces the held one; the feed
    thread (or a test calling :meth:`step` with a fake clock) sends once per tick. Latency is taken
    when a frame is first handed to the camera: capture time to the return of ``send``.

    Args:
        camera: the device.
        clock: seconds, the clock of the frames' capture times [default: ``time.monotonic``].
    """

    def __init__(self, camera: VirtualCamera, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.camera = camera
        self.clock = clock
        self.tracker = LatencyTracker()
        self.stats = CameraStats(camera.device, camera.width, camera.height, camera.fps)
        self.error: BaseException | None = None  # the device failed; re-raised by the run
        self._pacer: FramePacer | None = None
        self._lock = threading.Lock()
        self._image = np.zeros((camera.height, camera.width, 3), np.uint8)  # black until the first frame
        self._captured: float | None = None  # capture time of a frame not sent yet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpen-video-camera", daemon=True)

    def offer(self, image: np.ndarray, captured: float) -> None:
        """The newest output frame (uint8 [H, W, 3] RGB, any size) and its capture time (seconds)."""
        fitted = fit_frame(image, self.camera.width, self.camera.height)
        with self._lock:
            self.stats.replaced += self._captured is not None
            self._image, self._captured = fitted, captured

    def step(self, now: float) -> bool:
        """Send a frame when a tick is due at ``now``: the newest, or the held one again; True when sent."""
        if self._pacer is None:
            self._pacer = FramePacer(self.camera.fps, now)
        if self._pacer.wait(now) > 0:
            return False
        with self._lock:
            image, captured, self._captured = self._image, self._captured, None
        self.camera.send(image)
        sent_at = self.clock()
        stats = self.stats
        stats.sent += 1
        if captured is not None:
            stats.fresh += 1
            self.tracker.record(captured, sent_at)
        elif stats.fresh:
            stats.held += 1
        else:
            stats.blank += 1
        self._pacer.advance(sent_at)
        stats.skipped = self._pacer.skipped
        return True

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                now = self.clock()
                if not self.step(now) and self._pacer is not None:
                    self._stop.wait(self._pacer.wait(now))
        except BaseException as exc:  # noqa: BLE001 - the device went away: handed to the run loop
            self.error = exc

    @property
    def failed(self) -> bool:
        return self.error is not None

    def close(self) -> None:
        """Stop the feed thread and close the device."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self.camera.close()
