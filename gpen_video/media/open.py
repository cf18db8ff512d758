"""Open a job's reader and writer the same way for every caller (one file, batch units, live recordings)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from .encoders import EncodeSettings
from .reader import VideoInfo, VideoReader
from .writer import VideoWriter


def open_reader(source: str | Path | int, encode: EncodeSettings, *, start: float | None = None,
                end: float | None = None, realtime: bool = False) -> VideoReader:
    """A :class:`VideoReader` on ``source`` with the run's deinterlacing, trimmed to [start, end) seconds."""
    return VideoReader(source, deinterlace=encode.deinterlace, start=start, end=end, realtime=realtime)


def open_writer(
    dest: str | Path,
    info: VideoInfo,
    encode: EncodeSettings,
    *,
    source: str | Path | None = None,
    start: float | None = None,
    width: int | None = None,
    time_base: Fraction | None = None,
    overwrite: bool = False,
) -> VideoWriter:
    """A :class:`VideoWriter` for frames shaped like ``info``'s.

    Args:
        dest: the output file (written to a temporary file, renamed on success).
        info: the reader's stream description: size, time base, fps, pixel aspect ratio.
        encode: the run's ``[encode]`` section.
        source: input whose audio, subtitles and metadata are copied (None: video only).
        start: the reader's trim start, so the copied streams are cut to match.
        width: frame width when it differs from the source's (side-by-side output is 2×).
        time_base: pts ticks of the written frames when not the source's (live recordings).
        overwrite: replace an existing ``dest``.
    """
    return VideoWriter(
        dest,
        width=width or info.width,
        height=info.height,
        time_base=time_base or info.time_base,
        fps=info.fps,
        source=source,
        start=start,
        settings=encode,
        overwrite=overwrite,
        sample_aspect_ratio=info.sample_aspect_ratio,
    )
