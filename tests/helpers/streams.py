"""Reading a written file back: timestamps, packets, stream starts, leftover temporary files."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

TEMP_MARK = ".gpen-part"  # the writer's temporary-file mark (gpen_video.media.output.TEMP_MARK)


def video_pts(path: Path) -> list[int]:
    """Presentation timestamps (stream ticks) of every decoded video frame, in order."""
    with av.open(str(path)) as container:
        return [frame.pts for frame in container.decode(video=0)]


def frame_times(path: Path) -> list[Fraction]:
    """Presentation times (seconds, exact) of every decoded video frame, in order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [frame.pts * stream.time_base for frame in container.decode(stream)]


def packets(path: Path, kind: str) -> list[list[tuple[int | None, bytes]]]:
    """Per stream of ``kind`` ('audio', 'video', 'subtitle'): (pts, payload) of every packet."""
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        result: list[list[tuple[int | None, bytes]]] = [[] for _ in streams]
        where = {s.index: i for i, s in enumerate(streams)}
        for packet in container.demux(streams):
            if packet.size:
                result[where[packet.stream.index]].append((packet.pts, bytes(packet)))
    return result


def audio_packets(path: Path, start: float | None = None, end: float | None = None) -> list[bytes]:
    """Payload bytes of every packet of the first audio stream, optionally within [start, end) seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        payloads = []
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            t = float(packet.pts * packet.time_base)
            if (start is None or t >= start - 1e-6) and (end is None or t < end):
                payloads.append(bytes(packet))
        return payloads


def stream_starts(path: Path) -> dict[str, list[float]]:
    """Seconds of the first packet pts of every stream, by type."""
    with av.open(str(path)) as container:
        result: dict[str, list[float]] = {}
        for s in container.streams:
            result.setdefault(s.type, []).append(float(s.start_time * s.time_base) if s.start_time is not None else 0.0)
    return result


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files in ``folder`` other than ``keep`` (temporary outputs that should not exist)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def temp_files(folder: Path) -> list[str]:
    """The writer's temporary files left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if TEMP_MARK in p.name)


def stream_ends(path: Path) -> dict[str, float]:
    """Seconds where each kind of stream ('video', 'audio', ...) ends: its last packet's pts plus duration."""
    ends: dict[str, float] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.size and packet.pts is not None:
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                kind = packet.stream.type
                ends[kind] = max(ends.get(kind, end), end)
    return ends
