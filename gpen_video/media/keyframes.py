"""Keyframe index of a video file (demuxed packets, nothing decoded) and segment planning on it.

A long video is cut into segments that each start on a keyframe, so every segment decodes on its own.
Segments are windows ``[start, end)`` of frame indices in presentation order; each also has a warm-up
start a few frames earlier, whose frames feed the tracker and temporal blending but are not written.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ..errors import MediaOpenError
from .probe import container_start, frame_rate, video_open_error


@dataclass(frozen=True)
class FrameIndex:
    """Every video frame's pts of one file, in presentation order.

    Attributes:
        pts: increasing presentation timestamps in ``time_base`` ticks, one per frame that has one.
        keyframes: indices into ``pts`` of frames that start a keyframe packet (ascending).
        time_base: seconds per tick.
        origin: the container start time in seconds (what ``VideoReader``'s ``start``/``end`` count from).
        fps: average frame rate, or None.
        exact: every packet had a pts and no two shared one, so windows by pts are exact.
        untimed: frames whose packet had no pts (a raw elementary stream has only these); counted in
            ``len()``, but they cannot be placed on the timeline.
    """

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]
    time_base: Fraction
    origin: Fraction
    fps: Fraction | None
    exact: bool
    untimed: int = 0

    def __len__(self) -> int:
        return len(self.pts) + self.untimed

    def time(self, index: int) -> Fraction:
        """Seconds of frame ``index`` on the reader's trim timeline (from the container start)."""
        return self.pts[index] * self.time_base - self.origin

    @property
    def duration(self) -> Fraction:
        """Seconds from the first frame to the last frame's end (one frame at ``fps`` added)."""
        if not self.pts:
            return Fraction(0)
        step = 1 / self.fps if self.fps else Fraction(0)
        return self.time(len(self.pts) - 1) - self.time(0) + step


def index_frames(source: str | Path) -> FrameIndex:
    """Demux the first video stream of ``source`` (no decoding) and list its frames and keyframes.

    Raises:
        MediaOpenError: the file cannot be opened or holds no video packet.
    """
    try:
        container = av.open(str(source))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise video_open_error(source, str(exc)) from None
    with container:
        if not container.streams.video:
            raise video_open_error(source, "no video stream")
        stream = container.streams.video[0]
        found: list[tuple[int, bool]] = []
        missing = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # PyAV's end-of-stream marker
                    continue
                if packet.pts is None:
                    missing += 1
                    continue
                found.append((packet.pts, bool(packet.is_keyframe)))
        except av.FFmpegError as exc:
            raise MediaOpenError(f"cannot read {str(source)!r}: {exc}") from None
        if not found and not missing:
            raise video_open_error(source, "no video packets")
        time_base = Fraction(stream.time_base or Fraction(1, 1_000_000))
        origin = container_start(container)
        fps = frame_rate(stream)
    found.sort()
    pts = tuple(p for p, _ in found)
    keyframes = tuple(i for i, (_, key) in enumerate(found) if key)
    exact = missing == 0 and len(set(pts)) == len(pts)
    return FrameIndex(pts, keyframes, time_base, origin, fps, exact, untimed=missing)


@dataclass(frozen=True)
class Segment:
    """Frames ``[start, end)`` to write, decoded from ``warm`` (``warm <= start``) to prime the state."""

    warm: int
    start: int
    end: int


def plan_segments(index: FrameIndex, seconds: float, *, warmup: int, detect_every: int = 1) -> list[Segment]:
    """Cut ``index`` at keyframes into segments of at least ``seconds`` each (the last may be shorter).

    A cut is made at the first keyframe at least ``seconds`` after the previous cut, unless less than
    half of ``seconds`` would remain after it (a short tail joins the segment before). Each segment's
    warm-up starts ``warmup`` frames before it, moved back to a multiple of ``detect_every`` so the
    detector runs on the same frames as in one uninterrupted run. A file that is not ``exact`` or not
    longer than ``seconds`` is one segment.
    """
    count = len(index)
    if count == 0:
        return []
    if not index.exact or seconds <= 0 or index.duration <= Fraction(seconds):
        return [Segment(0, 0, count)]
    cuts = [0]
    length, end_time = Fraction(seconds), index.time(0) + index.duration
    for key in index.keyframes:
        since, left = index.time(key) - index.time(cuts[-1]), end_time - index.time(key)
        if key > cuts[-1] and since >= length and left >= length / 2:
            cuts.append(key)
    cuts.append(count)
    segments = []
    for start, end in zip(cuts, cuts[1:]):
        warm = max(0, start - warmup)
        warm -= warm % max(1, detect_every)
        segments.append(Segment(warm, start, end))
    return segments


def reader_window(index: FrameIndex, segment: Segment) -> tuple[float | None, float | None]:
    """``(start, end)`` seconds for ``VideoReader`` that deliver frames ``segment.warm`` to ``segment.end - 1``.

    The end is the next segment's first frame's time, which the reader's window leaves out; the
    reader allows half a tick either way at both bounds, so float rounding cannot move a frame across.
    """
    start = None if segment.warm == 0 else float(index.time(segment.warm))
    end = None if segment.end >= len(index) else float(index.time(segment.end))
    return start, end
