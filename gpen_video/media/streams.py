"""Audio and subtitle passthrough from a source file into an output container.

Every audio stream is copied packet for packet (payload byte-identical) when the output container
accepts its codec, else re-encoded (Opus for webm/mkv/ogg, AAC otherwise). Subtitle streams are
copied when the container accepts them and skipped otherwise. Streams are selected by type, never
by index.

Timestamps: every packet is moved by the same ``shift`` (seconds) as the video, so offsets between
streams are kept. Packets that start before the trim start are dropped, as are packets that start at
or after the end of the last video frame (trimming is packet-granular for copied streams).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction

import av

from ..errors import MediaOpenError, SourceTimeout
from .network import failure_reason, is_timeout, open_container, run_interruptibly
from .probe import container_start
from .settings import InputSettings

log = logging.getLogger(__name__)

# Keys that describe the old file or muxer rather than the content.
_STALE_KEYS = {"major_brand", "minor_version", "compatible_brands", "encoder", "rotate", "duration", "vendor_id"}
_MARGIN = Fraction(2)  # seconds read past the video end before giving up on late packets


def content_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Metadata worth carrying over (language, title, creation_time, handler_name, ...)."""
    return {k: v for k, v in metadata.items() if k.lower() not in _STALE_KEYS}


def monotonic_dts(last_dts: int | None, pts: int | None, dts: int | None) -> tuple[int | None, int] | None:
    """Fix a copied packet's (pts, dts) so dts strictly increases; None means drop the packet.

    A missing dts takes the pts. A dts at or before ``last_dts`` moves to ``last_dts + 1`` when that
    does not pass its pts; otherwise the packet cannot be kept.
    """
    if dts is None:
        if pts is None:
            return None
        dts = pts
    if last_dts is not None and dts <= last_dts:
        dts = last_dts + 1
        if pts is not None and dts > pts:
            return None
    return pts, dts


@dataclass
class PassthroughStats:
    audio_packets: int = 0
    subtitle_packets: int = 0
    reencoded_streams: list[str] = field(default_factory=list)
    fixed_packets: int = 0
    dropped_packets: int = 0
    notices: list[str] = field(default_factory=list)


def _reencode_codec(container_name: str) -> str:
    """Opus where it is the natural audio codec (webm, mkv, ogg), AAC everywhere else."""
    return "libopus" if set(container_name.split(",")) & {"webm", "matroska", "ogg"} else "aac"


class _Route:
    """One source stream and where its packets go."""

    def __init__(self, src: av.stream.Stream, out: av.stream.Stream, shift: Fraction, decode: bool) -> None:
        self.src = src
        self.out = out
        self.decode = decode
        self.tb = Fraction(src.time_base)
        self.shift_ticks = round(shift / self.tb)
        self.last_dts: int | None = None
        self.flushed = False


class Passthrough:
    """Carries a source's audio/subtitle streams and metadata into ``output``.

    Args:
        source: the opened input; the passthrough owns it from now on and closes it (also on error).
        output: the output container (streams are added now, before the header is written).
        start: seconds on the source timeline before which packets are dropped (None: keep all).
        shift: seconds subtracted from every timestamp (the same shift the video gets).
    """

    def __init__(
        self,
        source: av.container.InputContainer,
        output: av.container.OutputContainer,
        *,
        start: Fraction | None,
        shift: Fraction,
    ) -> None:
        self.stats = PassthroughStats()
        self._output = output
        self._start = start
        self._input = source
        try:
            output.metadata.update(content_metadata(dict(self._input.metadata)))
            self._routes = self._add_streams(shift)
            if self._routes and start is not None and start > container_start(self._input):
                self._input.seek(int(start * 1_000_000), backward=True)
            self._packets = self._input.demux([r.src for r in self._routes]) if self._routes else iter(())
        except BaseException:
            self._input.close()
            raise
        self._by_index = {r.src.index: r for r in self._routes}
        self._pending: av.Packet | None = None
        self._done = not self._routes

    def _notice(self, text: str) -> None:
        log.warning(text)
        self.stats.notices.append(text)

    def _add_streams(self, shift: Fraction) -> list[_Route]:
        accepted = self._output.supported_codecs
        routes = []
        for src in [*self._input.streams.audio, *self._input.streams.subtitles]:
            name = src.codec_context.name
            label = f"{src.type} #{src.index} ({name})"
            if name in accepted:
                out = self._output.add_stream_from_template(src)
                routes.append(_Route(src, out, shift, decode=False))
            elif src.type == "audio":
                codec = _reencode_codec(self._output.format.name)
                rate = 48000 if codec == "libopus" else src.codec_context.sample_rate
                out = self._output.add_stream(codec, rate=rate, layout=src.codec_context.layout)
                routes.append(_Route(src, out, shift, decode=True))
                self.stats.reencoded_streams.append(label)
                self._notice(f"{label}: {self._output.format.name} cannot hold {name}; re-encoding to {codec}")
            else:
                self._notice(f"{label}: not supported by {self._output.format.name}; left out")
                continue
            out.metadata.update(content_metadata(dict(src.metadata)))
        return routes

    # ------------------------------------------------------------ pumping
    def _next_packet(self) -> av.Packet | None:
        if self._pending is not None:
            packet, self._pending = self._pending, None
            return packet
        if self._done:
            return None
        try:
            return next(self._packets)
        except StopIteration:
            self._done = True
        except av.FFmpegError as exc:
            self._done = True
            self._notice(f"reading source streams stopped early: {exc}")
        return None

    @staticmethod
    def _seconds(packet: av.Packet) -> Fraction | None:
        ts = packet.pts if packet.pts is not None else packet.dts
        return None if ts is None else ts * Fraction(packet.time_base)

    def pump(self, until: Fraction, *, end: Fraction | None = None) -> None:
        """Mux source packets that start before ``until`` seconds (source timeline).

        With ``end`` given, packets starting at or after ``end`` are dropped instead of written.
        """
        while True:
            packet = self._next_packet()
            if packet is None:
                return
            when = self._seconds(packet)
            if when is not None and when >= until:
                self._pending = packet
                return
            route = self._by_index[packet.stream.index]
            if packet.size == 0 and packet.pts is None:  # PyAV's end-of-stream marker
                if route.decode:
                    self._encode(route, None, end)
                continue
            if when is None:  # no pts and no dts: there is no place for it on the timeline
                self.stats.dropped_packets += 1
                continue
            if (self._start is not None and when < self._start) or (end is not None and when >= end):
                continue
            if route.decode:
                self._encode(route, packet, end)
            else:
                self._copy(route, packet)

    def skip_before(self, start: Fraction) -> None:
        """From now on, drop packets that start before ``start`` seconds (source timeline)."""
        if self._start is None or start > self._start:
            self._start = start

    def finish(self, end: Fraction) -> None:
        """Mux everything up to ``end`` (the end of the last video frame), then flush encoders."""
        self.pump(end + _MARGIN, end=end)
        for route in self._routes:
            if route.decode:
                self._encode(route, None, end)
        self._input.close()

    def close(self) -> None:
        self._input.close()

    def _copy(self, route: _Route, packet: av.Packet) -> None:
        pts = None if packet.pts is None else packet.pts - route.shift_ticks
        dts = None if packet.dts is None else packet.dts - route.shift_ticks
        fixed = monotonic_dts(route.last_dts, pts, dts)
        if fixed is None:
            self.stats.dropped_packets += 1
            return
        if fixed != (pts, dts):
            self.stats.fixed_packets += 1
        packet.pts, packet.dts = fixed
        route.last_dts = fixed[1]
        packet.stream = route.out
        self._output.mux(packet)
        if route.src.type == "audio":
            self.stats.audio_packets += 1
        else:
            self.stats.subtitle_packets += 1

    def _encode(self, route: _Route, packet: av.Packet | None, end: Fraction | None) -> None:
        if packet is None:
            if route.flushed:
                return
            route.flushed = True
        try:
            frames = route.src.codec_context.decode(packet)  # None drains the decoder
        except av.FFmpegError as exc:
            if not (packet is None and isinstance(exc, av.error.EOFError)):  # EOF on a drain: nothing left
                self.stats.dropped_packets += 1
            if packet is not None:
                return
            frames = []  # a failed drain still flushes the encoder below: it holds earlier audio
        for frame in frames:
            when = frame.pts * route.tb if frame.pts is not None else None
            if when is not None and ((self._start is not None and when < self._start) or (end is not None and when >= end)):
                continue
            if frame.pts is not None:
                frame.pts -= route.shift_ticks
            self._output.mux(route.out.encode(frame))
        if packet is None:
            self._output.mux(route.out.encode(None))


def open_passthrough(
    source: str, output: av.container.OutputContainer, *, start: float | None,
    io_timeout: float = InputSettings.io_timeout,
) -> tuple[Passthrough, Fraction, dict[str, str]]:
    """Open ``source``'s audio/subtitle passthrough into ``output``, on the shared output timeline.

    The shift (seconds) that every stream of the output gets is the source container's start time
    plus the trim ``start``, so the output starts near zero and offsets between streams are kept.
    A network ``source`` fails once it sends nothing for ``io_timeout`` seconds.

    Returns:
        (passthrough, shift, the source video stream's content metadata to copy onto the output video).

    Raises:
        MediaOpenError: ``source`` cannot be opened; SourceTimeout: it sent nothing in time.
    """
    try:
        container = run_interruptibly(lambda: open_container(source, io_timeout=io_timeout),
                                      discard=av.container.InputContainer.close)
    except (av.FFmpegError, OSError) as exc:
        if is_timeout(exc):
            raise SourceTimeout(source, io_timeout) from None
        raise MediaOpenError(f"cannot open {source!r} to copy its audio: {failure_reason(source, exc)}") from None
    try:
        origin = container_start(container)
        video_meta = content_metadata(dict(container.streams.video[0].metadata)) if container.streams.video else {}
    except BaseException:
        container.close()
        raise
    trim_start = origin + Fraction(start) if start else None
    shift = trim_start if trim_start is not None else origin
    # The passthrough owns the container from here on and closes it, also when it fails.
    return Passthrough(container, output, start=trim_start, shift=shift), shift, video_meta


def video_end(last_pts: int, shift_ticks: int, time_base: Fraction, fps: Fraction | None, last_step: int | None) -> Fraction:
    """Source-timeline seconds where the last video frame ends (output ``last_pts`` plus one frame).

    One frame is ``1 / fps`` when the rate is known, else the last gap between frames (``last_step`` ticks).
    """
    step = round(1 / fps / time_base) if fps else (last_step or 0)
    return (last_pts + step + shift_ticks) * time_base
