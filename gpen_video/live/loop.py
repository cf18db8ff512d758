"""Live mode: enhance a webcam, a network stream or a real-time-paced file with bounded latency.

    capture thread ─▶ LatestFrame (one slot: a newer frame replaces an untaken one, which is dropped)
        ─▶ Engine.stream(queue_depth=1) with at most ``max_in_flight`` frames inside
        ─▶ main thread: apply the controls, record (VideoWriter, with the source's audio), offer to
           the virtual camera (its own thread sends at the camera's rate), show (OpenCV window),
           measure latency, act on keys

Latency stays bounded because nothing can queue up: the engine takes a frame only when one of its
``max_in_flight`` credits is free (a credit comes back when a result has been written and shown),
and it always takes the newest frame. When processing is slower than the source, the frames in
between are dropped and counted instead of waiting. Latency is measured from the capture time
(``Frame.time``, ``time.monotonic()``) to the moment the frame has been written and goes to the window.

The pieces live elsewhere: sources in ``media/`` (``open_source``), the slot and the reconnecting
capture thread in ``capture.py``, the window in ``display.py``, the virtual camera and its pacing in
``virtual_cam.py``, keys and switches in ``controls.py`` and ``terminal_keys.py``, latency
statistics in ``latency.py``.
A lost source is reopened for ``LiveSettings.reconnect_seconds``; after that the run ends with
``stopped == "lost"``.
"""
from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .capture import Capture, LatestFrame, Opener
from ..config import Settings
from .display import LiveStatus, LiveView, LiveWindow, compose_view
from ..engine import Engine
from .controls import KeySource, LiveControls
from .result import LiveResult, StopReason
from .settings import LiveSettings
from ..media.info import VideoInfo, output_size
from ..media.open import open_source, open_writer
from ..media.output import check_destination, close_quietly
from ..media.signals import stopping_with
from ..media.source import FrameSource, is_device, is_live_url
from ..media.writer import VideoWriter, WriterStats
from .latency import LatencyTracker
from ..protocols import ProgressListener
from ..types import FrameResult, PipelineStats, Progress
from ..review.provenance import output_tags
from ..types import Frame
from .virtual_cam import (
    CameraFeed,
    VirtualCamera,
    camera_fps,
    camera_size,
    open_virtual_camera,
)

CameraOpener = Callable[[int, int, float, str], VirtualCamera]  # (width, height, fps, device)

RECORD_TIME_BASE = Fraction(1, 90_000)  # recording pts ticks: capture times to ~11 µs
HANG_SECONDS = 30.0  # the capture thread silent this long past the reconnect time: give up on it
_POLL = 0.1


class _Recorder:
    """The output stream to a file, with strictly increasing pts.

    When the recording copies the source's audio (``source_clock``), a frame keeps its own source
    time, the clock the audio packets keep, so the two stay in sync however late frames were
    captured. Otherwise the pts is the first recorded frame's source time plus the capture time
    since it: a camera's frames carry no timeline of their own worth keeping.
    """

    def __init__(self, writer: VideoWriter, *, source_clock: bool = False) -> None:
        self.writer = writer
        self.source_clock = source_clock
        self._origin: tuple[float, float] | None = None  # (capture time, source seconds) of the first frame
        self._last = -1

    def write(self, frame: Frame, image: np.ndarray) -> None:
        source_time = float(frame.pts * frame.time_base) if frame.pts is not None else None
        if self._origin is None:
            self._origin = (frame.time, source_time or 0.0)
        captured, origin_time = self._origin
        seconds = source_time if self.source_clock and source_time is not None else origin_time + frame.time - captured
        pts = max(round(seconds / RECORD_TIME_BASE), self._last + 1)
        self._last = pts
        self.writer.write(Frame(frame.index, pts, RECORD_TIME_BASE, image, frame.time))

    def finish(self) -> WriterStats | None:
        """Close the file (kept whatever ended the run), or remove it when nothing was recorded."""
        if self.writer.stats.frames:
            return self.writer.close()
        self.writer.abort()
        return None


@dataclass
class _Outputs:
    """Where frames go besides the engine: any of window, virtual camera, recording, keys, messages."""

    window: LiveView | None = None
    camera: CameraFeed | None = None
    recorder: _Recorder | None = None
    keys: KeySource | None = None
    message: Callable[[str], None] | None = None

    def close(self) -> WriterStats | None:
        """Close them all (the recording last: it is finalised, or removed when empty)."""
        try:
            close_quietly(*(c.close for c in (self.window, self.camera, self.keys) if c is not None))
        finally:
            stats = self.recorder.finish() if self.recorder is not None else None
        return stats


class _Run:
    """The moving parts of one run: capture, in-flight credits, controls, latency, and why it stops."""

    def __init__(self, source: str | int, reader: FrameSource, opener: Opener, settings: Settings,
                 outputs: _Outputs, engine: Engine) -> None:
        live: LiveSettings = settings.live
        self.slot = LatestFrame()
        self.capture = Capture(source, reader, opener, self.slot, reconnect_seconds=live.reconnect_seconds)
        self.credits = threading.Semaphore(live.max_in_flight)
        self.tracker = LatencyTracker()
        self.stats = PipelineStats(keep_frames=False)  # a live run may last days: constant-size stats
        self.engine = engine
        self.compositor = engine.compositor()  # the one the controls step and the engine pastes with
        self.controls = LiveControls(self.compositor)
        self.outputs = outputs
        self.hang_limit = live.reconnect_seconds + HANG_SECONDS
        self.reason: StopReason | None = None  # the first stop request; later ones only stop again
        self.source = source
        self.began = time.monotonic()

    def stop(self, reason: StopReason) -> None:
        if self.reason is None:
            self.reason = reason
        self.capture.stop()

    @property
    def stopped(self) -> StopReason:
        return self.reason or ("lost" if self.capture.lost else "end")

    def feed(self) -> Iterator[Frame]:
        """Runs in the engine's feeder thread: a credit, then the newest frame."""
        while True:
            while not self.credits.acquire(timeout=_POLL):
                if self.slot.closed:
                    return
            frame = None
            while frame is None:
                frame = self.slot.take(timeout=_POLL)
                if frame is None and self.slot.closed:
                    return
                if frame is None and self.capture.silent_for() > self.hang_limit:
                    self.stop("lost")  # the capture thread is stuck inside the source; abandon it
                    return
            yield frame

    def process(self, progress: ProgressListener | None) -> None:
        """Capture, enhance, record, publish and show until the capture ends or the user quits."""
        self.capture.start()
        if self.outputs.camera is not None:
            self.outputs.camera.start()
        # Hidden faces are covered from their first detection on: no frame is held back for look-ahead.
        results = self.engine.stream(self.feed(), stats=self.stats, queue_depth=1, compositor=self.compositor,
                                     redact_lookahead=0)
        quitting = False
        try:
            for result in results:
                try:
                    # After a quit the frames still in flight are recorded, not drawn: drawing would
                    # re-create a window the user just closed.
                    keep_going = self._hand_out(result, progress, draw=not quitting)
                finally:
                    self.credits.release()  # on an error too: the feeder must not wait for it
                if not keep_going:
                    quitting = True
                    self.stop("quit")
        finally:
            # Close the slot first: the feeder leaves its credit or frame wait at once, so closing
            # the engine does not wait out its join timeout on the feeder thread.
            self.capture.stop()
            results.close()
            self.capture.join(timeout=2.0)

    def _hand_out(self, result: FrameResult, progress: ProgressListener | None, *, draw: bool) -> bool:
        """Record, publish and show one result, measure its latency, act on keys; False to quit.

        The latency is taken before drawing so that the overlay shows this frame's own numbers.
        """
        frame, out, controls = result.frame, self.outputs, self.controls
        picture = result.enhanced if controls.enhance else frame.image
        if out.recorder is not None:
            out.recorder.write(frame, picture)
        view = compose_view(frame.image, picture, controls.side_by_side)
        if out.camera is not None:
            if out.camera.failed:
                raise out.camera.error
            out.camera.offer(view, frame.time)
        self.tracker.record(frame.time, time.monotonic())
        status = LiveStatus(self.tracker.count, self.tracker.fps, self.tracker.latest, len(result.faces),
                            self.slot.dropped, self.capture.reconnects, controls.enhance, controls.temporal)
        keys = []
        if out.window is not None and draw:
            pressed = out.window.show(view, status.lines())
            keys += [pressed] if pressed else []
        keys += out.keys.poll() if out.keys is not None else []
        keep_going = True
        for key in keys:  # every key acts, also those after a quit
            keep_going = self._press(key) and keep_going
        if progress is not None:
            progress(Progress(done=self.tracker.count, faces=len(result.faces), seconds=time.monotonic() - self.began,
                              item=str(self.source), detail="  ".join(status.lines())))
        return keep_going

    def _press(self, key: str) -> bool:
        """Act on one key; False for the quit key."""
        action, line = self.controls.press(key, self.tracker.count)
        if action == "quit":
            return False
        if action == "status":
            line = self.status_line()
        if line is not None and self.outputs.message is not None:
            self.outputs.message(line)
        return True

    def status_line(self) -> str:
        """fps and latency so far, for the status key."""
        lat = self.tracker.summary()
        parts = [f"{self.tracker.fps:.1f} fps", f"latency now {self.tracker.latest * 1000:.0f} ms"]
        if "p50" in lat:
            parts.append(f"p50 {lat['p50'] * 1000:.0f} ms, p95 {lat['p95'] * 1000:.0f} ms")
        camera = self.outputs.camera
        if camera is not None and camera.tracker.count:
            cam = camera.tracker.summary()
            parts.append(f"camera p50 {cam['p50'] * 1000:.0f} ms, p95 {cam['p95'] * 1000:.0f} ms, "
                         f"{camera.stats.held} held")
        parts.append(f"dropped {self.slot.dropped}")
        return "  ".join(parts)


def run_live(
    source: str | int,
    settings: Settings,
    *,
    output: str | Path | None = None,
    overwrite: bool = False,
    engine: Engine | None = None,
    opener: Opener | None = None,
    camera_opener: CameraOpener | None = None,
    keys: KeySource | None = None,
    message: Callable[[str], None] | None = None,
    progress: ProgressListener | None = None,
    window: LiveView | None = None,
) -> LiveResult:
    """Enhance a live source until it ends, is lost, the user quits or a signal arrives.

    Order of checks: the output path, the source (MediaOpenError when it never opens), the window, the
    virtual camera, the engine (weights), the recording file. The recording is finalised however the run
    ends, SIGINT included: it is the footage so far (a second signal waits for it; see media.signals).

    Args:
        source: webcam index, ``/dev/videoN``, URL or video file (see ``media.source.parse_source``).
        settings: ``settings.live`` holds the window and virtual camera switches, the camera's size
            and rate, the reconnect time and the in-flight limit.
        output: record the output here, timed by capture times, with the audio of a file or
            on-demand URL source copied packet for packet (cameras and live protocols: video only).
        engine: a ready engine (tests and benchmarks inject stand-in restorers this way).
        opener: opens the source, first and on every reconnect [default: ``open_source`` with
            ``settings.input``].
        camera_opener: opens the virtual camera [default: ``virtual_cam.open_virtual_camera``].
        keys: keys pressed outside the window (a terminal); see ``controls.KEYS``.
        message: shows a line to the user (what a key changed, the status asked for).
        progress: called after every frame; ``detail`` is the window's status line (fps, latency, faces...).
        window: where frames are shown; the run closes it when it ends [default: a ``LiveWindow``
            when ``settings.live.window`` is on, else none].

    Raises:
        NoDisplayError: ``settings.live.window`` is on and no window can be opened.
        VirtualCameraUnavailable, MissingExtra: ``settings.live.virtual_cam`` is on and no virtual
            camera can be opened.
    """
    began = time.monotonic()
    if output is not None:
        source_file = None if isinstance(source, int) else source  # a webcam index is no file
        check_destination(output, source=source_file, inputs=settings.files_read(), overwrite=overwrite)
    opener = opener or functools.partial(open_source, inputs=settings.input)
    reader = opener(source)
    outputs, engine = _prepare(source, reader, settings, engine, output, overwrite, camera_opener or open_virtual_camera,
                               window)
    outputs.keys, outputs.message = keys, message
    run = _Run(source, reader, opener, settings, outputs, engine)
    # The first signal stops the capture; the recording is finalised inside the block, so later ones wait for it.
    with stopping_with(lambda _signum: run.stop("signal")):
        try:
            run.process(progress)
        finally:
            writer_stats = outputs.close()
    if run.capture.error is not None:
        raise run.capture.error
    return _result(run, settings, reader.info, outputs, writer_stats, output, time.monotonic() - began)


def _result(run: _Run, settings: Settings, info: VideoInfo, outputs: _Outputs, writer_stats: WriterStats | None,
            output: str | Path | None, seconds: float) -> LiveResult:
    """What the finished ``run`` did, with notes on what it could not do as asked."""
    capture, source = run.capture, run.source
    notes = [f"resized {capture.resized} frame(s) of a reopened source"] if capture.resized else []
    if settings.upscale.scale > 1:
        notes.append(upscale_notice(settings.upscale.scale))
    if output is not None and info.has_audio and not _audio_copied(source):
        notes.append("the source's audio is not recorded: it comes from a live protocol")
    camera = outputs.camera
    return LiveResult(
        source=str(source), output=str(writer_stats.path) if writer_stats else None, settings=settings,
        stopped=run.stopped, frames=run.tracker.count, captured=run.slot.captured, dropped=run.slot.dropped,
        attempts=capture.attempts, reconnects=capture.reconnects, losses=list(capture.losses),
        seconds=seconds, latency=run.tracker.summary(),
        latency_samples=list(zip(run.tracker.captured, run.tracker.shown)), stats=run.stats, writer=writer_stats,
        info=info, notes=notes, camera=camera.stats if camera else None,
        camera_latency=camera.tracker.summary() if camera else None, controls=list(run.controls.events),
    )


def upscale_notice(scale: int) -> str:
    """The note a live run with an enlarged output carries: what the enlargement costs."""
    return (f"upscale {scale}: every frame is enlarged to {scale * scale}x the pixels before faces are pasted "
            "and shown or recorded, which adds latency and lowers the frame rate")


def _audio_copied(source: str | int) -> bool:
    """Whether a recording copies the source's audio: files and on-demand URLs are opened a second time
    for it, on the same timeline; a camera has none and a live protocol's second connection would
    not share the first one's clock."""
    return not is_device(source) and not is_live_url(source)


def _prepare(source: str | int, reader: FrameSource, settings: Settings, engine: Engine | None,
             output: str | Path | None, overwrite: bool, camera_opener: CameraOpener,
             window: LiveView | None) -> tuple[_Outputs, Engine]:
    """The window, the virtual camera, the engine and the recording, in that order; on a failure
    what was opened is closed again, the source too.

    The window and the camera come before the slow model load, so that a missing display or camera
    backend fails fast.
    """
    outputs = _Outputs()
    live, info = settings.live, reader.info
    try:
        outputs.window = window or (LiveWindow() if live.window else None)
        if live.virtual_cam:
            width, height = camera_size((info.width, info.height), (live.cam_width, live.cam_height))
            camera = camera_opener(width, height, camera_fps(info.fps, live.cam_fps), live.cam_device)
            outputs.camera = CameraFeed(camera)
        engine = engine or Engine(settings)
        if output is not None:
            audio = info.has_audio and _audio_copied(source)
            width, height = output_size(info, engine.scale)
            writer = open_writer(output, info, settings.encode, width=width, height=height,
                                 time_base=RECORD_TIME_BASE, overwrite=overwrite, tags=output_tags(settings),
                                 source=source if audio else None, inputs=settings.input,
                                 copy_from_first_frame=True)
            outputs.recorder = _Recorder(writer, source_clock=audio)
    except BaseException:
        close_quietly(outputs.close, reader.close)
        raise
    return outputs, engine
