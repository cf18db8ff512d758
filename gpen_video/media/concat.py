"""Join video-only segment files into one output by packet copy, then add the source's audio once.

Each segment file starts at pts 0 and records which source pts its first frame had; its packets are
moved back to their place on the source timeline and then by the one shift the whole output gets
(see ``streams.open_passthrough``), exactly as ``VideoWriter`` stamps a single run. Nothing is
re-encoded. The audio (and subtitles) come from the source through the same passthrough as
``VideoWriter``, so they are byte-identical to a single run and have no seams at segment boundaries.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from ..errors import GpenVideoError, InputError
from .output import check_destination, close_quietly, commit, discard, temp_path_for
from .probe import video_open_error
from .streams import Passthrough, monotonic_dts, open_passthrough, video_end


@dataclass(frozen=True)
class SegmentFile:
    """One encoded segment: ``path`` (video only, first frame at pts 0) and its first frame's source pts."""

    path: Path
    first_pts: int


@dataclass
class ConcatStats:
    """What the join wrote."""

    video_packets: int = 0
    audio_packets: int = 0
    subtitle_packets: int = 0
    fixed_packets: int = 0
    dropped_packets: int = 0
    notices: list[str] = field(default_factory=list)


def _ticks(value: int | None, packet_tb: Fraction, time_base: Fraction) -> int | None:
    return None if value is None else round(value * packet_tb / time_base)


def concat_segments(
    segments: Sequence[SegmentFile],
    dest: str | Path,
    *,
    source: str | Path,
    time_base: Fraction,
    fps: Fraction | None,
    overwrite: bool = False,
    tags: dict[str, str] | None = None,
) -> ConcatStats:
    """Write ``dest`` from ``segments`` (in order) plus the audio and subtitles of ``source``.

    Args:
        segments: the segment files, encoded alike, in presentation order (``first_pts`` increasing).
        dest: the output, written to a temporary file renamed into place when complete.
        source: the input the segments were cut from (for its audio, metadata and start time).
        time_base: the source video's time base, in which ``SegmentFile.first_pts`` counts.
        fps: the source's frame rate (the last frame's duration, for where the audio stops).
        tags: container metadata to set over the source's (see ``writer.VideoWriter``).

    Raises:
        InputError: bad destination, or (``DestinationTaken``) one that appeared while joining without
            ``overwrite``; MediaOpenError: a segment or the source cannot be opened; GpenVideoError: the
            segments are out of order or disagree on codec parameters, or reading or writing fails
            part-way (FFmpeg and OS errors, e.g. a full disk, become this).
    """
    _check_order(segments, Path(dest))
    dest = check_destination(dest, source=source, overwrite=overwrite)
    temp, stats = temp_path_for(dest), ConcatStats()
    output: av.container.OutputContainer | None = None
    first: av.container.InputContainer | None = None
    passthrough: Passthrough | None = None
    try:
        output = _open_output(temp, dest)
        first = _open_segment(segments[0].path)
        template = first.streams.video[0]
        video, extradata = output.add_stream_from_template(template), template.codec_context.extradata
        video.time_base = time_base
        passthrough, shift, video_meta = open_passthrough(str(source), output, start=None)
        video.metadata.update(video_meta)
        output.metadata.update(tags or {})
        copy = _VideoCopy(output, video, time_base, round(shift / time_base), passthrough, stats)
        for number, segment in enumerate(segments):  # segments[0] is open already: it gave the template
            with (first if number == 0 else _open_segment(segment.path)) as part:
                if part.streams.video[0].codec_context.extradata != extradata:
                    raise GpenVideoError(f"{segment.path.name} was encoded differently from the first segment")
                copy.segment(part, segment.first_pts)
        if not copy.top:
            raise GpenVideoError(f"the segments of {dest.name} hold no video")
        copy.finish(fps)
        output.close()
        commit(temp, dest, overwrite=overwrite)
    except BaseException as exc:
        close_quietly(*(c.close for c in (first, passthrough, output) if c is not None))  # twice is harmless
        discard(temp)
        # Disk full, a damaged segment...: callers catch GpenVideoError, not FFmpeg's; ours stay as they are.
        if isinstance(exc, (av.FFmpegError, OSError)) and not isinstance(exc, GpenVideoError):
            raise GpenVideoError(f"cannot join segments into {dest}: {exc}") from exc
        raise
    return stats


@dataclass
class _VideoCopy:
    """Copies the segments' video packets into ``video`` on one timeline, with the source's other streams
    pumped alongside up to each packet's time."""

    output: av.container.OutputContainer
    video: av.VideoStream
    time_base: Fraction  # the source video's, in which segments' first pts count
    shift_ticks: int  # the source's start, in ``time_base`` ticks
    passthrough: Passthrough
    stats: ConcatStats
    last_dts: int | None = None
    top: list[int] = field(default_factory=list)  # the two largest output pts so far, for the last frame's duration

    def finish(self, fps: Fraction | None) -> None:
        """Copy the source's other streams up to the end of the last frame; count what they wrote."""
        last_step = self.top[1] - self.top[0] if len(self.top) == 2 else None
        self.passthrough.finish(video_end(self.top[-1], self.shift_ticks, self.time_base, fps, last_step))
        p, stats = self.passthrough.stats, self.stats
        stats.audio_packets, stats.subtitle_packets = p.audio_packets, p.subtitle_packets
        stats.dropped_packets += p.dropped_packets
        stats.fixed_packets += p.fixed_packets
        stats.notices.extend(p.notices)

    def segment(self, part: av.container.InputContainer, first_pts: int) -> None:
        """Copy ``part``'s video packets, shifted to start at ``first_pts`` on the source's timeline."""
        offset, time_base = first_pts - self.shift_ticks, self.time_base
        for packet in part.demux(part.streams.video[0]):
            if packet.size == 0:
                continue
            packet_tb = Fraction(packet.time_base)
            pts = _ticks(packet.pts, packet_tb, time_base)
            dts = _ticks(packet.dts, packet_tb, time_base)
            pts = None if pts is None else pts + offset
            dts = None if dts is None else dts + offset
            fixed = monotonic_dts(self.last_dts, pts, dts)
            if fixed is None:
                self.stats.dropped_packets += 1
                continue
            self.stats.fixed_packets += fixed != (pts, dts)
            packet.pts, packet.dts = fixed
            packet.time_base = time_base
            self.last_dts = fixed[1]
            packet.stream = self.video
            self.output.mux(packet)
            self.stats.video_packets += 1
            if fixed[0] is not None:
                self.top = sorted([*self.top, fixed[0]])[-2:]
                self.passthrough.pump((fixed[0] + self.shift_ticks) * time_base)


def _check_order(segments: Sequence[SegmentFile], dest: Path) -> None:
    if not segments:
        raise GpenVideoError(f"no segments to join into {dest}")
    starts = [segment.first_pts for segment in segments]
    if any(later <= earlier for earlier, later in zip(starts, starts[1:])):
        # Out of order or repeated, packets would be dropped as non-monotonic: frames lost silently.
        raise GpenVideoError(f"segments for {dest.name} are not in presentation order (first pts {starts})")


def _open_output(temp: Path, dest: Path) -> av.container.OutputContainer:
    try:
        return av.open(str(temp), "w")
    except ValueError as exc:  # the extension names no container (worded as the writer does)
        raise InputError(f"cannot write {dest.name}: no container for {dest.suffix!r} ({exc})") from None


def _open_segment(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise video_open_error(path, str(exc)) from None
    if not container.streams.video:
        container.close()
        raise video_open_error(path, "no video stream")
    return container
