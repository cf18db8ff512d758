"""Live mode: enhance a webcam, a network stream or a real-time-paced file with bounded latency.

    capture thread ─▶ LatestFrame (one slot: a newer frame replaces an untaken one, which is dropped)
        ─▶ Engine.stream(queue_depth=1) with at most ``max_in_flight`` frames inside
        ─▶ main thread: record (VideoWriter), show (OpenCV window), measure latency

Latency stays bounded because nothing can queue up: the engine takes a frame only when one of its
``max_in_flight`` credits is free (a credit comes back when a result has been written and shown),
and it always takes the newest frame. When processing is slower than the source, the frames in
between are dropped and counted instead of waiting. Latency is measured from the capture time
(``Frame.time``, ``time.monotonic()``) to the moment the frame has been written and goes to the window.

A lost source (camera unplugged, stream ended or stalled) is reopened with exponential backoff
for ``LiveSettings.reconnect_seconds``; after that the run ends with ``stopped == "lost"``.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from .config import Settings
from .engine import Engine, FrameResult, PipelineStats
from .errors import GpenVideoError, InputError, Interrupted, MediaOpenError
from .media.open import open_writer
from .media.output import check_destination, close_quietly
from .media.reader import VideoInfo, VideoReader, is_live_url
from .media.signals import handling_signals
from .media.writer import VideoWriter, WriterStats
from .metrics import latency_summary, trend
from .types import Frame

log = logging.getLogger(__name__)

RECORD_TIME_BASE = Fraction(1, 90_000)  # recording pts ticks: capture times to ~11 µs
STALL_SECONDS = 5.0  # a network read that waits longer than this counts as a lost stream
HANG_SECONDS = 30.0  # the capture thread silent this long past the reconnect time: give up on it
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 2.0  # seconds between reconnect attempts: doubling, capped
MAX_SAMPLES = 200_000  # latency samples kept (about 2 h at 25 fps)
_POLL = 0.1
# What a source raises when it goes away (PyAV errors are OSErrors too; readers raise MediaOpenError).
_LOSS_ERRORS = (av.FFmpegError, OSError, GpenVideoError)
_DEVICE = re.compile(r"/dev/video\d+")


class FrameSource(Protocol):
    """What live mode reads: ``VideoReader`` or ``OpenCVCamera`` (or a test's stand-in)."""

    info: VideoInfo

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


Opener = Callable[["str | int"], FrameSource]


# ---------------------------------------------------------------------------------------- sources
def _is_device(source: str | int) -> bool:
    """A camera: a webcam index or a V4L2 device path (``/dev/videoN``)."""
    return isinstance(source, int) or bool(_DEVICE.fullmatch(str(source)))


def parse_source(text: str) -> str | int:
    """``"0"`` -> webcam index 0; a URL, device or existing file as given.

    Raises:
        InputError: a path that does not exist.
    """
    if text.isdigit():
        return int(text)
    if "://" in text or _is_device(text) or Path(text).exists():
        return text
    raise InputError(f"source not found: {text} (give a webcam index, /dev/videoN, a URL or a video file)")


def is_stream(source: str | int) -> bool:
    """True for cameras and URLs, whose end means the source was lost; False for files."""
    return _is_device(source) or "://" in source


class OpenCVCamera:
    """A webcam through OpenCV's VideoCapture, for devices PyAV cannot open.

    Yields :class:`Frame` with uint8 [H, W, 3] RGB images, ``pts=None`` and ``time`` = capture time.
    Also reads files (used by the tests). Iteration ends when the camera stops delivering.

    Raises:
        MediaOpenError: the device cannot be opened or delivers no frame.
    """

    def __init__(self, source: str | int) -> None:
        cv2.setLogLevel(0)  # silent: a camera that fails to open is reported by us, in one line
        api = cv2.CAP_V4L2 if _is_device(source) and sys.platform.startswith("linux") else cv2.CAP_ANY
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


def open_source(source: str | int, *, deinterlace: bool = True) -> FrameSource:
    """Open a live source with the shared media reader.

    Files and on-demand URLs (http, ...) are paced at their real-time rate (a file is a "fake
    camera"); live protocols (rtsp, udp, ...) are not, so a burst of buffered frames is dropped by
    the capture slot instead of being spread out. Network reads time out after ``STALL_SECONDS``.
    A camera that PyAV cannot open is tried with OpenCV.

    Raises:
        MediaOpenError: the source cannot be opened.
    """
    if not _is_device(source):
        options = {"rw_timeout": str(int(STALL_SECONDS * 1_000_000))} if "://" in str(source) else None
        realtime = not is_live_url(str(source))
        return VideoReader(source, deinterlace=deinterlace, realtime=realtime, options=options)
    try:
        return VideoReader(source, deinterlace=deinterlace)
    except MediaOpenError as exc:
        try:
            return OpenCVCamera(source)
        except MediaOpenError:
            raise MediaOpenError(f"{exc}; OpenCV cannot open it either") from None


# --------------------------------------------------------------------------------- capture slot
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


# -------------------------------------------------------------------------------------- latency
class LatencyTracker:
    """Capture-to-output latency and output rate of a live run (seconds, ``time.monotonic()``).

    Keeps the last ``MAX_SAMPLES`` frames, so a run of any length uses bounded memory.
    """

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self.captured: deque[float] = deque(maxlen=MAX_SAMPLES)
        self.shown: deque[float] = deque(maxlen=MAX_SAMPLES)
        self._recent: deque[float] = deque()
        self.count = 0

    def record(self, captured: float, shown: float) -> None:
        self.captured.append(captured)
        self.shown.append(shown)
        self._recent.append(shown)
        while self._recent and shown - self._recent[0] > self.window:
            self._recent.popleft()
        self.count += 1

    @property
    def latest(self) -> float:
        """Latency of the last frame, 0.0 before the first."""
        return self.shown[-1] - self.captured[-1] if self.shown else 0.0

    @property
    def fps(self) -> float:
        """Frames shown per second over the last ``window`` seconds."""
        if len(self._recent) < 2:
            return 0.0
        return (len(self._recent) - 1) / max(self._recent[-1] - self._recent[0], 1e-9)

    def latencies(self) -> np.ndarray:
        """float64 [N] latency per frame, in order."""
        return np.asarray(self.shown, np.float64) - np.asarray(self.captured, np.float64)

    def summary(self) -> dict[str, float | int | None]:
        """fps, p50/p95/mean/max latency, p95 of each half of the run, and the latency trend (s/s)."""
        n = len(self.shown)
        if n == 0:
            return {"frames": 0}
        lat = self.latencies()
        span = self.shown[-1] - self.shown[0]
        out: dict[str, float | int | None] = {"frames": self.count, "fps": (n - 1) / span if span > 0 else None}
        out.update(latency_summary(lat))
        if n >= 4:
            half = n // 2
            out["p95_first_half"] = latency_summary(lat[:half])["p95"]
            out["p95_second_half"] = latency_summary(lat[half:])["p95"]
            out["trend"] = trend(list(self.shown), lat)
        return out


# --------------------------------------------------------------------------------------- window
@dataclass(frozen=True)
class LiveStatus:
    """What the overlay and the status line show."""

    frames: int
    fps: float
    latency: float  # seconds, last frame
    faces: int  # in the last frame
    dropped: int
    reconnects: int

    def lines(self) -> list[str]:
        return [
            f"{self.fps:4.1f} fps  {self.latency * 1000:4.0f} ms",
            f"faces {self.faces}  dropped {self.dropped}" + (f"  reconnects {self.reconnects}" if self.reconnects else ""),
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


class LiveWindow:
    """The OpenCV window: enhanced stream with an fps/latency/faces overlay.

    Keys: ``q`` or Esc quits, ``s`` toggles side-by-side with the original. Closing the window quits.

    Raises:
        InputError: there is no display to open a window on.
    """

    QUIT_KEYS = (ord("q"), 27)
    SIDE_BY_SIDE_KEY = ord("s")

    def __init__(self, title: str = "gpen-video live") -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            # Qt aborts the whole process without a display, so check before asking it.
            raise InputError("no display for the live window (DISPLAY is not set); use --no-window")
        self.title = title
        self.side_by_side = False
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        except cv2.error as exc:
            raise InputError(f"cannot open the live window ({exc}); use --no-window") from None

    def show(self, original: np.ndarray, enhanced: np.ndarray, lines: list[str]) -> bool:
        """Show one frame (RGB in); returns False when the user asked to quit."""
        view = compose_view(original, enhanced, self.side_by_side)
        cv2.imshow(self.title, draw_overlay(cv2.cvtColor(view, cv2.COLOR_RGB2BGR), lines))
        key = cv2.waitKey(1) & 0xFF
        if key in self.QUIT_KEYS:
            return False
        if key == self.SIDE_BY_SIDE_KEY:
            self.side_by_side = not self.side_by_side
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)  # let the GUI loop actually remove it


# -------------------------------------------------------------------------------------- the run
@dataclass
class LiveResult:
    """What a live run did.

    Attributes:
        stopped: "end" (a file source finished), "quit" (q, Esc or window closed), "signal"
            (SIGINT/SIGTERM) or "lost" (the source went away and did not come back in time).
        captured, dropped: frames read from the source, and those never processed because a newer
            one arrived first (``captured == frames + dropped``).
        latency: ``LatencyTracker.summary()``: fps, p50/p95/mean/max, half-run p95s, trend.
        latency_samples: (capture time, shown time) per frame, seconds (monotonic clock).
    """

    source: str
    output: str | None
    settings: Settings
    stopped: str
    frames: int
    captured: int
    dropped: int
    attempts: int
    reconnects: int
    losses: list[str]
    seconds: float
    latency: dict
    latency_samples: list[tuple[float, float]]
    stats: PipelineStats
    writer: WriterStats | None = None
    info: VideoInfo | None = None
    notes: list[str] = field(default_factory=list)


class _Recorder:
    """The enhanced stream to a file, with capture times as pts (strictly increasing)."""

    def __init__(self, writer: VideoWriter) -> None:
        self.writer = writer
        self._t0: float | None = None
        self._last = -1

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if self._t0 is None:
            self._t0 = frame.time
        pts = max(round((frame.time - self._t0) / RECORD_TIME_BASE), self._last + 1)
        self._last = pts
        self.writer.write(Frame(frame.index, pts, RECORD_TIME_BASE, image, frame.time))

    def finish(self) -> WriterStats | None:
        """Close the file (kept whatever ended the run), or remove it when nothing was recorded."""
        if self.writer.stats.frames:
            return self.writer.close()
        self.writer.abort()
        return None


def _signals_call(callback: Callable[[], None]) -> AbstractContextManager[None]:
    """SIGINT/SIGTERM call ``callback`` (a graceful stop); a second one raises Interrupted."""
    received = []

    def handler(signum: int, _frame) -> None:
        if received:
            raise Interrupted(f"stopped by a second {signal.Signals(signum).name}")
        received.append(signum)
        callback()

    return handling_signals(handler)


def run_live(
    source: str | int,
    settings: Settings,
    *,
    output: str | Path | None = None,
    overwrite: bool = False,
    engine: Engine | None = None,
    opener: Opener | None = None,
    on_update: Callable[[LiveStatus], None] | None = None,
) -> LiveResult:
    """Enhance a live source until it ends, is lost, the user quits or a signal arrives.

    Order of checks: the output path, then the source (MediaOpenError, exit 2, when it never
    opens), then the window (display), then the engine (weights), then the recording file. The
    recording is finalised however the run ends, including SIGINT: it is the footage so far.

    Args:
        source: webcam index, ``/dev/videoN``, URL or video file (see ``parse_source``).
        settings: ``settings.live`` holds the window switch, reconnect time and in-flight limit.
        output: record the enhanced stream here (video only, timestamps from capture times).
        engine: a ready engine (tests and benchmarks inject stand-in restorers this way).
        opener: opens the source, first and on every reconnect [default: ``open_source`` with
            ``settings.encode.deinterlace``].
        on_update: called after every frame with the current status.
    """
    began = time.monotonic()
    live = settings.live
    if output is not None:
        # A webcam index is no file; a path or URL source must not be overwritten by the recording.
        check_destination(output, source=None if isinstance(source, int) else source, overwrite=overwrite)
    if opener is None:
        opener = functools.partial(open_source, deinterlace=settings.encode.deinterlace)
    reader = opener(source)
    window: LiveWindow | None = None
    try:
        info = reader.info
        window = LiveWindow() if live.window else None  # before the slow model load: no display fails fast
        engine = engine or Engine(settings)
        recorder = _Recorder(_open_writer(output, info, settings, overwrite)) if output is not None else None
    except BaseException:
        if window is not None:
            window.close()
        close_quietly(reader.close)
        raise

    slot = LatestFrame()
    capture = Capture(source, reader, opener, slot, reconnect_seconds=live.reconnect_seconds)
    credits = threading.Semaphore(live.max_in_flight)
    tracker = LatencyTracker()
    stats = PipelineStats(keep_frames=False)  # a live run may last days: constant-size stats
    reasons: list[str] = []

    def stop(reason: str) -> None:
        if not reasons:
            reasons.append(reason)
        capture.stop()

    def feed() -> Iterator[Frame]:
        """Runs in the engine's feeder thread: a credit, then the newest frame."""
        hang_limit = live.reconnect_seconds + HANG_SECONDS
        while True:
            while not credits.acquire(timeout=_POLL):
                if slot.closed:
                    return
            frame = None
            while frame is None:
                frame = slot.take(timeout=_POLL)
                if frame is None and slot.closed:
                    return
                if frame is None and capture.silent_for() > hang_limit:
                    stop("lost")  # the capture thread is stuck inside the source; abandon it
                    return
            yield frame

    try:
        with _signals_call(lambda: stop("signal")):
            capture.start()
            results = engine.stream(feed(), stats=stats, queue_depth=1)
            quitting = False
            try:
                for result in results:
                    # After a quit the frames still in flight are recorded, not drawn: drawing would
                    # re-create a window the user just closed.
                    view = None if quitting else window
                    try:
                        keep_going = _show(result, recorder, view, tracker, slot, capture, on_update)
                    finally:
                        credits.release()  # on an error too: the feeder must not wait for it
                    if not keep_going:
                        quitting = True
                        stop("quit")
            finally:
                # Close the slot first: the feeder leaves its credit or frame wait at once, so closing
                # the engine does not wait out its join timeout on the feeder thread.
                capture.stop()
                results.close()
                capture.join(timeout=2.0)
    finally:
        if window is not None:
            window.close()
        writer_stats = recorder.finish() if recorder is not None else None
    if capture.error is not None:
        raise capture.error
    stopped = reasons[0] if reasons else ("lost" if capture.lost else "end")
    notes = [f"resized {capture.resized} frame(s) of a reopened source"] if capture.resized else []
    return LiveResult(
        source=str(source), output=str(writer_stats.path) if writer_stats else None, settings=settings,
        stopped=stopped, frames=tracker.count, captured=slot.captured, dropped=slot.dropped,
        attempts=capture.attempts, reconnects=capture.reconnects, losses=list(capture.losses),
        seconds=time.monotonic() - began, latency=tracker.summary(),
        latency_samples=list(zip(tracker.captured, tracker.shown)), stats=stats, writer=writer_stats,
        info=info, notes=notes,
    )


def _open_writer(output: str | Path, info: VideoInfo, settings: Settings, overwrite: bool) -> VideoWriter:
    return open_writer(output, info, settings.encode, time_base=RECORD_TIME_BASE, overwrite=overwrite)


def _show(result: FrameResult, recorder: _Recorder | None, window: LiveWindow | None, tracker: LatencyTracker,
          slot: LatestFrame, capture: Capture, on_update: Callable[[LiveStatus], None] | None) -> bool:
    """Record and display one result and measure its latency; False when the user asked to quit.

    The latency is taken before drawing so that the overlay shows this frame's own numbers.
    """
    frame = result.frame
    if recorder is not None:
        recorder.write(frame, result.enhanced)
    tracker.record(frame.time, time.monotonic())
    status = _status(tracker, result, slot, capture)
    keep_going = window.show(frame.image, result.enhanced, status.lines()) if window is not None else True
    if on_update is not None:
        on_update(status)
    return keep_going


def _status(tracker: LatencyTracker, result: FrameResult, slot: LatestFrame, capture: Capture) -> LiveStatus:
    return LiveStatus(tracker.count, tracker.fps, tracker.latest, len(result.faces), slot.dropped, capture.reconnects)
