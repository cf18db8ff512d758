"""What a video source delivers (``VideoInfo``): a result type at the bottom of the package, so that sources,
readers, jobs and live results can all name it without importing the reader (and PyAV)."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class VideoInfo:
    """What the reader will deliver. Sizes are upright (after rotation).

    Attributes:
        width, height: pixels of every delivered frame.
        fps: average frame rate, or None when the source does not know it.
        time_base: seconds per pts tick of delivered frames.
        start_time: seconds of the first video pts on the source timeline.
        duration: seconds, or None (live sources).
        frame_count: estimated number of frames in the whole source, or None.
        sample_aspect_ratio: pixel aspect ratio of the upright frame, or None when square/unknown.
        rotation: degrees counter-clockwise that were applied to make frames upright (0, 90, 180, 270).
        is_live: a capture device, a network stream, or a file paced in real time.
        codec: decoder name.
        has_audio: the source has at least one audio stream.
    """

    width: int
    height: int
    fps: Fraction | None
    time_base: Fraction
    start_time: float
    duration: float | None
    frame_count: int | None
    sample_aspect_ratio: Fraction | None
    rotation: int
    is_live: bool
    codec: str
    has_audio: bool


def output_size(info: VideoInfo, scale: int, *, side_by_side: bool = False) -> tuple[int, int]:
    """(width, height) in pixels of the frames a run writes for ``info``'s frames enlarged ``scale`` times,
    twice as wide when the original is shown ``side_by_side`` with the result."""
    return info.width * scale * (2 if side_by_side else 1), info.height * scale
