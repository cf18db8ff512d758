"""What a live run did: the result that ``run_live`` returns and the report prints.

Its own module so that the report (and anything else that only reads results) does not import
the live run loop with its threads, OpenCV window and engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..config import Settings
from ..types import PipelineStats
from .controls import ControlEvent
from ..media.info import VideoInfo
from ..media.writer import WriterStats
from .virtual_cam import CameraStats

# "end": a file source finished; "quit": q, Esc or the window closed; "signal": SIGINT/SIGTERM;
# "lost": the source went away and did not come back in time.
StopReason = Literal["end", "quit", "signal", "lost"]


@dataclass
class LiveResult:
    """What a live run did.

    Attributes:
        stopped: why the run ended (see ``StopReason``).
        captured, dropped: frames read from the source, and those never processed because a newer
            one arrived first (``captured == frames + dropped``).
        attempts, reconnects: reopen attempts after losses, and the successful ones.
        losses: why the source was lost, each time.
        seconds: wall time of the run.
        latency: ``LatencyTracker.summary()``: fps, p50/p95/mean/max (s), half-run p95s, trend (s/s),
            from capture to the moment the frame was written and handed to the window.
        latency_samples: (capture time, shown time) per frame, seconds (monotonic clock).
        camera: what the virtual camera got (None without one); ``camera_latency``: the same summary
            as ``latency``, from capture to the frame's first hand-over to the camera.
        controls: the keys acted on, in order.
    """

    source: str
    output: str | None
    settings: Settings
    stopped: StopReason
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
    camera: CameraStats | None = None
    camera_latency: dict | None = None
    controls: list[ControlEvent] = field(default_factory=list)
