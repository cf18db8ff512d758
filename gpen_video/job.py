"""One job: a video or an image in, the enhanced file out, written safely."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from .config import Settings
from .engine import Engine, PipelineStats
from .media.output import check_destination
from .media.image import read_image, write_image
from .media.open import open_reader, open_writer
from .media.reader import VideoInfo
from .media.signals import interrupts_as_exceptions
from .types import Frame

ProgressCallback = Callable[[PipelineStats], None]


@dataclass
class JobResult:
    """What a finished job did; ``gpen_video.report`` turns it into the summary and the JSON report."""

    source: str
    output: str
    kind: str  # "video" or "image"
    settings: Settings
    stats: PipelineStats
    seconds: float
    info: VideoInfo | None = None
    media: dict = field(default_factory=dict)  # reader and writer counters


def default_output(source: str | Path) -> Path:
    """``output_<name>`` beside the input."""
    path = Path(source)
    return path.with_name(f"output_{path.name}")


def enhance_video(
    source: str | Path,
    output: str | Path,
    settings: Settings,
    *,
    engine: Engine | None = None,
    start: float | None = None,
    end: float | None = None,
    compare: bool = False,
    overwrite: bool = False,
    on_start: Callable[[VideoInfo], None] | None = None,
    on_frame: ProgressCallback | None = None,
    keep_frames: bool = False,
) -> JobResult:
    """Decode ``source``, enhance every frame, encode to ``output`` with the source's audio.

    The input is opened first (bad input fails fast), then the engine is built (missing weights
    fail before any output exists), then the output is written to a temporary file that replaces
    ``output`` only on success. SIGINT/SIGTERM raise ``Interrupted`` and leave no file behind.
    ``keep_frames`` keeps every frame's faces and tracks in ``stats.per_frame`` (for a report); off,
    memory stays constant however long the video.
    """
    began = time.perf_counter()
    stats = PipelineStats(keep_frames=keep_frames)
    encode = settings.encode
    with interrupts_as_exceptions(), open_reader(source, encode, settings.input, start=start, end=end) as reader:
        info = reader.info
        check_destination(output, source=source, overwrite=overwrite)  # before the slow model load
        engine = engine or Engine(settings)
        if on_start is not None:
            on_start(info)
        writer = open_writer(output, info, encode, source=None if info.is_live else source, start=start,
                             width=info.width * (2 if compare else 1), overwrite=overwrite, inputs=settings.input)
        with writer:
            for result in engine.stream(reader, stats=stats):
                image = np.hstack([result.frame.image, result.enhanced]) if compare else result.enhanced
                started = time.perf_counter()
                writer.write(replace(result.frame, image=image))
                stats.add_time("encode", time.perf_counter() - started)
                if on_frame is not None:
                    on_frame(stats)
        media = {"reader": vars(reader.stats).copy(), "writer": vars(writer.stats).copy()}
    return JobResult(str(source), str(output), "video", settings, stats, time.perf_counter() - began, info, media)


IMAGE_DET_LIMIT = 2048  # pixels: pictures are detected at full resolution up to this longest side


def _image_settings(settings: Settings, image: np.ndarray) -> Settings:
    """A picture is one detector pass, so it can afford full resolution (small faces in group photos)."""
    det_size = max(settings.faces.det_size, min(max(image.shape[:2]), IMAGE_DET_LIMIT))
    return replace(settings, faces=replace(settings.faces, det_size=det_size))


def enhance_image(
    source: str | Path,
    output: str | Path,
    settings: Settings,
    *,
    engine: Engine | None = None,
    compare: bool = False,
    overwrite: bool = False,
) -> JobResult:
    """Enhance the faces of one picture; the output format follows the output's extension."""
    began = time.perf_counter()
    stats = PipelineStats()
    check_destination(output, source=source, overwrite=overwrite)
    with interrupts_as_exceptions():
        image = read_image(source)
        if engine is None:
            settings = _image_settings(settings, image)
            engine = Engine(settings)
        frame = Frame(index=0, pts=0, time_base=Fraction(1, 1), image=image)
        (result,) = list(engine.stream([frame], stats=stats, detect_every=1))
        enhanced = np.hstack([image, result.enhanced]) if compare else result.enhanced
        write_image(output, enhanced, overwrite=overwrite, source=source)
    return JobResult(str(source), str(output), "image", settings, stats, time.perf_counter() - began)
