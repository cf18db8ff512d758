"""Media I/O on PyAV: VideoReader, VideoWriter (audio passthrough, safe output), image I/O."""
from __future__ import annotations

from .encoders import EncodeSettings
from .reader import ReaderStats, VideoInfo, VideoReader
from .signals import interrupts_as_exceptions
from .writer import VideoWriter, WriterStats

__all__ = [
    "EncodeSettings",
    "ReaderStats",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "WriterStats",
    "interrupts_as_exceptions",
]
