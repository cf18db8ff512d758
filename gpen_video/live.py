"""Live mode: enhance a webcam, a network stream or a real-time-paced file with bounded latency.

    capture thread ─▶ LatestFrame (one slot: a newer frame replaces an untaken one, which is dropped)
        ─▶ Engine.stream(queue_depth=1) with at most ``max_in_flight`` frames inside
        ─▶ main thread: record (VideoWriter), show (OpenCV window), measure latency

Latency stays bounded because nothing can queue up: the engine takes a frame only when one of its
``max_in_flight`` credits is free (a credit comes back when a result has been written and shown),
and it always takes the newest frame. When processing is slower than the source, the frames in
between are dropped and counted instead of waiting. Latency is measured from the capture time
(``Frame.time``, ``time.monotonic()``) to the moment the frame has been written and goes to the window.

The pieces live elsewhere: sources in ``media/`` (``open_source``), the slot and the reconnecting
capture thread in ``capture.py``, the window in ``display.py``, latency statistics in ``metrics.py``.
A lost source is reopened for ``LiveSettings.reconnect_seconds``; after that the run ends with
``stopped == "lost"``.
"""
from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from .capture import Capture, LatestFrame, Opener
from .config import LiveSettings, Settings
from .display import LiveStatus, LiveWindow
from .engine import Engine, FrameResult, PipelineStats
from .live_result import LiveResult, StopReason
from .media.open import open_source, open_writer
from .media.output import check_destination, close_quietly
from .media.signals import stopping_with
from .media.source import FrameSource
from .media.writer import VideoWriter, WriterStats
from .metrics import LatencyTracker
from .progress import Progress, ProgressListener
from .provenance import output_tags
from .types import Frame

RECORD_TIME_BASE = Fraction(1, 90_000)  # recording pts ticks: capture times to ~11 µs
HANG_SECONDS = 30.0  # the capture thread silent this long past the reconnect time: give up on it
_POLL = 0.1


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


class _Run:
    """The moving parts of one run: capture, in-flight credits, latency, and why it stops."""

    def __init__(self, source: str | int, reader: FrameSource, opener: Opener, live: LiveSettings) -> None:
        self.slot = LatestFrame()
        self.capture = Capture(source, reader, opener, self.slot, reconnect_seconds=live.reconnect_seconds)
        self.credits = threading.Semaphore(live.max_in_flight)
        self.tracker = LatencyTracker()
        self.stats = PipelineStats(keep_frames=False)  # a live run may last days: constant-size stats
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

    def process(self, engine: Engine, window: LiveWindow | None, recorder: _Recorder | None,
                progress: ProgressListener | None) -> None:
        """Capture, enhance, record and show until the capture ends or the user quits."""
        self.capture.start()
        results = engine.stream(self.feed(), stats=self.stats, queue_depth=1)
        quitting = False
        try:
            for result in results:
                # After a quit the frames still in flight are recorded, not drawn: drawing would
                # re-create a window the user just closed.
                view = None if quitting else window
                try:
                    keep_going = self._show(result, recorder, view, progress)
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

    def _show(self, result: FrameResult, recorder: _Recorder | None, window: LiveWindow | None,
              progress: ProgressListener | None) -> bool:
        """Record and display one result and measure its latency; False when the user asked to quit.

        The latency is taken before drawing so that the overlay shows this frame's own numbers.
        """
        frame = result.frame
        if recorder is not None:
            recorder.write(frame, result.enhanced)
        self.tracker.record(frame.time, time.monotonic())
        status = LiveStatus(self.tracker.count, self.tracker.fps, self.tracker.latest, len(result.faces),
                            self.slot.dropped, self.capture.reconnects)
        keep_going = window.show(frame.image, result.enhanced, status.lines()) if window is not None else True
        if progress is not None:
            progress(Progress(done=self.tracker.count, faces=len(result.faces), seconds=time.monotonic() - self.began,
                              item=str(self.source), detail="  ".join(status.lines())))
        return keep_going


def run_live(
    source: str | int,
    settings: Settings,
    *,
    output: str | Path | None = None,
    overwrite: bool = False,
    engine: Engine | None = None,
    opener: Opener | None = None,
    progress: ProgressListener | None = None,
) -> LiveResult:
    """Enhance a live source until it ends, is lost, the user quits or a signal arrives.

    Order of checks: the output path, then the source (MediaOpenError, exit 2, when it never
    opens), then the window (display), then the engine (weights), then the recording file. The
    recording is finalised however the run ends, including SIGINT: it is the footage so far (a
    second signal waits for it; see media.signals).

    Args:
        source: webcam index, ``/dev/videoN``, URL or video file (see ``media.source.parse_source``).
        settings: ``settings.live`` holds the window switch, reconnect time and in-flight limit.
        output: record the enhanced stream here (video only, timestamps from capture times).
        engine: a ready engine (tests and benchmarks inject stand-in restorers this way).
        opener: opens the source, first and on every reconnect [default: ``open_source`` with
            ``settings.encode`` and ``settings.input``].
        progress: called after every frame; ``detail`` is the status line the window shows
            (frames, fps, latency, faces, dropped frames, reconnects).

    Raises:
        NoDisplayError: ``settings.live.window`` is on and no window can be opened.
    """
    began = time.monotonic()
    if output is not None:
        # A webcam index is no file; a path or URL source must not be overwritten by the recording.
        check_destination(output, source=None if isinstance(source, int) else source, overwrite=overwrite)
    opener = opener or functools.partial(open_source, encode=settings.encode, inputs=settings.input)
    reader = opener(source)
    info = reader.info
    window, engine, recorder = _prepare(reader, settings, engine, output, overwrite)

    run = _Run(source, reader, opener, settings.live)
    # The first signal stops the capture; later ones must not cut short the recording's finalisation,
    # so it happens inside the block (see media.signals).
    with stopping_with(lambda _signum: run.stop("signal")):
        try:
            run.process(engine, window, recorder, progress)
        finally:
            if window is not None:
                window.close()
            writer_stats = recorder.finish() if recorder is not None else None
    capture = run.capture
    if capture.error is not None:
        raise capture.error
    notes = [f"resized {capture.resized} frame(s) of a reopened source"] if capture.resized else []
    if settings.upscale.scale > 1:
        notes.append(upscale_notice(settings.upscale.scale))
    return LiveResult(
        source=str(source), output=str(writer_stats.path) if writer_stats else None, settings=settings,
        stopped=run.stopped, frames=run.tracker.count, captured=run.slot.captured, dropped=run.slot.dropped,
        attempts=capture.attempts, reconnects=capture.reconnects, losses=list(capture.losses),
        seconds=time.monotonic() - began, latency=run.tracker.summary(),
        latency_samples=list(zip(run.tracker.captured, run.tracker.shown)), stats=run.stats, writer=writer_stats,
        info=info, notes=notes,
    )


def upscale_notice(scale: int) -> str:
    """The note a live run with an enlarged output carries: what the enlargement costs."""
    return (f"upscale {scale}: every frame is enlarged to {scale * scale}x the pixels before faces are pasted "
            "and shown or recorded, which adds latency and lowers the frame rate")


def _prepare(reader: FrameSource, settings: Settings, engine: Engine | None, output: str | Path | None,
             overwrite: bool) -> tuple[LiveWindow | None, Engine, _Recorder | None]:
    """The window, the engine and the recording, in that order; on a failure the source is closed.

    The window comes before the slow model load, so that a missing display fails fast.
    """
    window: LiveWindow | None = None
    try:
        window = LiveWindow() if settings.live.window else None
        engine = engine or Engine(settings)
        recorder = None
        if output is not None:
            info, scale = reader.info, engine.scale
            writer = open_writer(output, info, settings.encode, width=info.width * scale, height=info.height * scale,
                                 time_base=RECORD_TIME_BASE, overwrite=overwrite, tags=output_tags(settings))
            recorder = _Recorder(writer)
    except BaseException:
        if window is not None:
            window.close()
        close_quietly(reader.close)
        raise
    return window, engine, recorder
