"""Small facts about an opened source that the reader, the keyframe index and the passthrough share.

Kept in one place so that every module agrees on the timeline origin and the frame rate.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputMissing, MediaOpenError
from .source import NO_SUCH_FILE


def container_start(container: av.container.InputContainer) -> Fraction:
    """Seconds of the container's start time (0 when unknown): the origin that trims count from."""
    return Fraction(container.start_time or 0, 1_000_000)


def frame_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's average frame rate, else FFmpeg's guess, else None."""
    rate = stream.average_rate or stream.guessed_rate
    return Fraction(rate) if rate else None


def video_open_error(source: str | Path, reason: str) -> MediaOpenError:
    """The one-line error for a source that cannot be read as video."""
    kind = InputMissing if reason == NO_SUCH_FILE else MediaOpenError
    return kind(f"cannot open {str(source)!r} as video: {reason}")
