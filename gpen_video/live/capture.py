"""Live capture: a thread reads the source into a one-frame slot and reopens the source when it is lost.

    source ─▶ Capture thread (renumber, stamp, resize) ─▶ LatestFrame ─▶ the engine's feeder

A lost source (camera unplugged, stream ended or stalled) is reopened with exponential backoff for
``reconnect_seconds``; after that the capture gives up and ``Capture.lost`` is set.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import av
import cv2

from ..errors import GpenVideoError
from ..media.output import close_quietly
from ..media.source import FrameSource, is_stream
from ..types import Frame

log = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 0.25, 2.0  # seconds between reconnect attempts: doubling, capped
# What a source raises when it goes away (PyAV errors are OSErrors too; readers raise MediaOpenError).
_LOSS_ERRORS = (av.FFmpegError, OSError, GpenVideoError)

Opener = Callable[[str | int], FrameSource]  # opens a source, first and on every reconnect


class LatestFrame:
    """A one-frame mailbox from the capture thread to the engine. Thread-safe.

    ``put`` replaces a frame nobody has taken yet: that frame is stale, so it is dropped and
    counted. ``take`` blocks until a frame newer than the last one taken exists. After ``close``
    an untaken frame is dropped too, so ``captured == taken + dropped`` always holds once closed.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.captured = 0
        self.taken = 0
        self.dropped = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._closed:
                return
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.captured += 1
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> Frame | None:
        """The newest untaken frame; None once closed or after ``timeout`` seconds without one."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout)
            if self._closed or self._frame is None:
                return None
            frame, self._frame = self._frame, None
            self.taken += 1
            return frame

    def close(self) -> None:
        with self._cond:
            if not self._closed and self._frame is not None:
                self.dropped += 1
                self._frame = None
            self._closed = True
            self._cond.notify_all()


class Capture:
    """Reads a source in its own thread into a :class:`LatestFrame`, reopening it when it is lost.

    Frames are renumbered across reconnects, stamped with ``time.monotonic()`` when the source does
    not stamp them, and resized to the first size when a reopened source comes back at another one.
    At the end (file finished, source lost, ``stop``) the slot is closed, which ends the engine's feed.

    Args:
        source: what ``opener`` opens again after a loss.
        reader: the already opened source.
        opener: opens ``source``; raises on failure.
        slot: where frames go.
        reconnect_seconds: how long to keep trying after a loss (0: one attempt).
    """

    def __init__(self, source: str | int, reader: FrameSource, opener: Opener, slot: LatestFrame, *,
                 reconnect_seconds: float) -> None:
        self.source = source
        self.slot = slot
        self.reconnect_seconds = reconnect_seconds
        self.size = (reader.info.width, reader.info.height)
        self.attempts = 0  # reopen attempts after losses
        self.reconnects = 0  # successful ones
        self.losses: list[str] = []  # why the source was lost, each time
        self.lost = False  # gave up: the source did not come back in time
        self.resized = 0
        self.error: BaseException | None = None  # an unexpected failure, re-raised by the run
        self.last_activity = time.monotonic()
        self._reader = reader
        self._opener = opener
        self._stream = is_stream(source)
        self._count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpen-video-capture", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.slot.close()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def silent_for(self) -> float:
        """Seconds since the capture thread last delivered a frame or tried to reconnect."""
        return time.monotonic() - self.last_activity

    def _run(self) -> None:
        reader: FrameSource | None = self._reader
        try:
            while reader is not None:
                problem = self._pump(reader)
                if problem is None or self._stop.is_set():
                    return
                self.losses.append(problem)
                log.warning("live source %s lost (%s); reconnecting for %.1f s", self.source, problem,
                            self.reconnect_seconds)
                reader = self._reconnect()
            self.lost = not self._stop.is_set()
        except BaseException as exc:  # noqa: BLE001 - a bug, handed to the run loop and re-raised there
            self.error = exc
        finally:
            self.slot.close()

    def _pump(self, reader: FrameSource) -> str | None:
        """Read until the source ends; returns why it was lost, or None for a normal end."""
        try:
            for frame in reader:
                if self._stop.is_set():
                    return None
                self.last_activity = time.monotonic()
                self.slot.put(self._normalise(frame))
        except _LOSS_ERRORS as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            close_quietly(reader.close)  # a source that already went away may fail to close
        return "the stream ended" if self._stream else None

    def _normalise(self, frame: Frame) -> Frame:
        image = frame.image
        if (image.shape[1], image.shape[0]) != self.size:
            self.resized += 1
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        stamp = frame.time if frame.time is not None else time.monotonic()
        self._count += 1
        return Frame(self._count - 1, frame.pts, frame.time_base, image, stamp)

    def _reconnect(self) -> FrameSource | None:
        """Reopen with exponential backoff until ``reconnect_seconds`` have passed; None: gave up."""
        deadline = time.monotonic() + self.reconnect_seconds
        delay = BACKOFF_FIRST
        while not self._stop.is_set():
            self.attempts += 1
            self.last_activity = time.monotonic()
            try:
                reader = self._opener(self.source)
            except _LOSS_ERRORS as exc:
                log.info("reconnect attempt %d to %s failed: %s", self.attempts, self.source, exc)
            else:
                self.reconnects += 1
                return reader
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._stop.wait(min(delay, remaining))
            delay = min(2 * delay, BACKOFF_MAX)
        return None
