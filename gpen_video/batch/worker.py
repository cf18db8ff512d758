"""The worker side: run one unit (a whole file, or one segment) in this process.

Executors call ``run_attempt``, which records the attempt and then calls a *unit runner*:
``run_unit`` unless the caller gave another function of the same signature (``UnitRunner``).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..config import Settings
from ..errors import GpenVideoError
from ..protocols import FrameObserver
from ..types import FrameResult, PastedFace
from .manifest import UnitRecord

if TYPE_CHECKING:
    from ..engine import Engine

ProgressFn = Callable[[str, int], None]  # (unit id, frames written so far)


@dataclass(frozen=True)
class UnitTask:
    """Everything a worker needs to run one unit (picklable, sent to processes and Ray tasks).

    Attributes:
        source: the input video's path.
        part: absolute path of the part file to write.
        gallery: absolute path of the face gallery folder to write for the unit's frames; None: no gallery.
    """

    unit: UnitRecord
    source: str
    part: str
    settings: Settings
    gallery: str | None = None


@dataclass(frozen=True)
class UnitOutcome:
    """A finished unit: frames written and the attempt's wall time in seconds."""

    unit_id: str
    frames: int
    seconds: float


class UnitRunner(Protocol):
    """Runs one unit in the calling process, writing ``task.part``; raises on failure (the executor retries).

    Executors send it to worker processes, so it must be picklable (a module-level function or an
    instance of a module-level class).
    """

    def __call__(self, task: UnitTask, progress: ProgressFn | None = None) -> UnitOutcome: ...


def attempts_path(part: str | Path) -> Path:
    """``<part>.attempts``: one line per attempt at a unit, whichever executor (or retry) ran it."""
    return Path(f"{part}.attempts")


def count_attempts(part: str | Path) -> int:
    """Attempts recorded for the unit writing ``part`` (0 when none)."""
    try:
        return len(attempts_path(part).read_text().splitlines())
    except OSError:
        return 0


def run_attempt(runner: UnitRunner, task: UnitTask, progress: ProgressFn | None) -> UnitOutcome:
    """Record one attempt at ``task`` (before it starts, so an attempt that kills its process counts), then run it."""
    part = Path(task.part)
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(attempts_path(part), "a") as handle:
        handle.write(f"{os.getpid()} {time.time():.3f}\n")
    return runner(task, progress)


_ENGINE: tuple[Settings, Engine] | None = None  # this worker process's engine: the model loads once


def _engine(settings: Settings) -> Engine:
    from ..engine import Engine

    global _ENGINE
    if _ENGINE is None or _ENGINE[0] != settings:
        _ENGINE = None  # release the old model before loading the new one
        _ENGINE = (settings, Engine(settings))
    return _ENGINE[1]


def run_unit(task: UnitTask, progress: ProgressFn | None = None) -> UnitOutcome:
    """The default ``UnitRunner``: enhance the unit's frames with this process's engine into ``task.part``.

    The part file is written atomically; ``progress`` gets the frames written about every 0.5 s and
    once at the end. Raises whatever the pipeline raises.
    """
    began = time.perf_counter()
    engine = _engine(task.settings)
    report = (lambda n: progress(task.unit.id, n)) if progress is not None else (lambda n: None)
    if task.unit.kind == "whole":
        frames = _run_whole(task, engine, report)
    else:
        frames = _run_segment(task, engine, report)
    report(frames)
    return UnitOutcome(task.unit.id, frames, time.perf_counter() - began)


def _throttled(report: Callable[[int], None], every: float = 0.5) -> Callable[[int], None]:
    last = [0.0]

    def update(frames: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            report(frames)

    return update


def _run_whole(task: UnitTask, engine: Engine, report: Callable[[int], None]) -> int:
    """Exactly a single ``gpen-video`` run into the part file."""
    from ..job import enhance_video

    update = _throttled(report)
    result = enhance_video(task.source, task.part, task.settings, engine=engine, overwrite=True,
                           progress=lambda progress: update(progress.done), faces_out=task.gallery)
    return result.stats.frames


def _run_segment(task: UnitTask, engine: Engine, report: Callable[[int], None]) -> int:
    """Decode from the warm-up frame, enhance, write (video only) the frames at or after the segment start.

    With ``task.gallery``, the written frames (not the warm-up) also go into the segment's face gallery,
    numbered as frames of the whole source.
    """
    from ..review.gallery import FaceGallery
    from ..media.info import output_size
    from ..media.open import open_reader, open_writer
    from ..media.signals import interrupts_as_exceptions

    unit, encode = task.unit, task.settings.encode
    expected = unit.end - unit.start
    update = _throttled(report)
    written = 0
    start, end = unit.window
    with interrupts_as_exceptions(), open_reader(task.source, task.settings.input, start=start, end=end) as reader, \
            ExitStack() as cleanup:
        gallery = None if task.gallery is None else cleanup.enter_context(
            FaceGallery(task.gallery, source=task.source, overwrite=True))
        observer = None if gallery is None else _WrittenFrames(gallery, unit.first_pts, unit.start)
        info = reader.info
        width, height = output_size(info, engine.scale)
        with open_writer(task.part, info, encode, width=width, height=height,
                         overwrite=True) as writer:
            for result in engine.stream(reader, observer=observer, planes=writer.takes_planes):
                frame = result.frame
                if frame.pts is None or frame.pts < unit.first_pts:
                    continue  # warm-up: primes tracks and blending, not written
                if written == 0 and frame.pts != unit.first_pts:
                    raise GpenVideoError(f"{unit.id}: first frame has pts {frame.pts}, expected {unit.first_pts}")
                writer.write(replace(frame, image=result.enhanced), result.planes)
                written += 1
                update(written)
            if written != expected:
                raise GpenVideoError(f"{unit.id}: decoded {written} frames, expected {expected}")
        if gallery is not None:
            gallery.close()
    return written


class _WrittenFrames:
    """A ``FrameObserver`` that passes on only the frames a segment writes (from ``first_pts`` on),
    renumbered as frames of the whole source (the first written one is ``first_index``)."""

    def __init__(self, observer: FrameObserver, first_pts: int | None, first_index: int) -> None:
        self.observer, self.first_pts, self.first_index = observer, first_pts, first_index
        self.offset: int | None = None

    def observe(self, result: FrameResult, faces: Sequence[PastedFace]) -> None:
        frame = result.frame
        if frame.pts is None or self.first_pts is None or frame.pts < self.first_pts:
            return  # warm-up
        if self.offset is None:
            self.offset = self.first_index - frame.index
        self.observer.observe(replace(result, frame=replace(frame, index=frame.index + self.offset)), faces)
