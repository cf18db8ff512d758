"""Progress reports: what a job, a batch or a live run tells whoever shows its progress."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Progress:
    """Where a piece of work stands.

    Attributes:
        done: frames finished so far (0 in the first report, sent once the work is ready to start).
        total: frames expected; None when unknown (a live source, a stream that does not say).
        faces: faces restored so far.
        seconds: wall time since the first report.
        item: which piece of work, for a listener that follows several (a batch's inputs); "" otherwise.
        detail: one more line for people (live mode: latency, dropped frames); "" when none.
        stage_seconds: busy seconds so far per pipeline stage (decode, detect+track, restore, upscale, ...).
    """

    done: int
    total: int | None = None
    faces: int = 0
    seconds: float = 0.0
    item: str = ""
    detail: str = ""
    stage_seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float | None:
        """Frames per second so far; None before the first frame."""
        return self.done / self.seconds if self.done and self.seconds > 0 else None


class ProgressListener(Protocol):
    """Anything called with each ``Progress``: a function, a lambda, a bound method of a view."""

    def __call__(self, progress: Progress) -> None: ...
