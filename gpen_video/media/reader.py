"""VideoReader: decode anything FFmpeg reads into upright RGB frames with their source timestamps.

Order of operations per frame: decode (codec threads) -> deinterlace (bwdif, interlaced frames only,
timestamps kept) -> trim window [start, end) -> convert to RGB uint8 with the declared matrix (and
rescale to the first frame's size if the stream changes resolution) -> rotate upright -> pace
(realtime only).
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from av.codec.hwaccel import HWAccel
import numpy as np

from ..errors import InputError, SourceTimeout
from ..types import Frame
from .colour import HDR_TRANSFERS, source_matrix, source_range
from .info import VideoInfo
from .network import failure_reason, is_timeout, open_container, run_interruptibly, waits_for_data
from .probe import container_start, frame_rate, video_open_error
from .settings import HWACCELS, InputSettings
from .source import demuxer_input, file_problem, is_device, is_live_url, local_file

log = logging.getLogger(__name__)

_PROGRESSIVE_FIELD_ORDERS = (0, 1)  # AV_FIELD_UNKNOWN, AV_FIELD_PROGRESSIVE
TRUNCATED_SHARE = 0.9  # frames that stop before this share of the declared duration: the input ended early


def frames_in_window(fps: Fraction, seconds: float, start: float | None = None, end: float | None = None) -> int:
    """Frames a constant-rate stream of ``seconds`` at ``fps`` has in the window [start, end) (seconds
    from its first frame; None: its beginning or end): those at times ``k / fps`` with start <= time < end.
    """
    def frames_before(time: float) -> int:
        return math.ceil(time * fps - 1e-6)  # 0.2 * 25 is 5.000000000000001 in floating point

    last = round(seconds * fps)
    first = 0 if start is None else min(last, frames_before(start))
    return max(0, (last if end is None else min(last, frames_before(end))) - first)


@dataclass
class ReaderStats:
    """Counters filled while iterating; read them after the loop.

    ``declared_frames``: what the container's duration and frame rate promise for the input, or for
    the trim window when there is one (None when it declares no duration); set once the input ended.
    """

    frames: int = 0
    declared_frames: int | None = None
    corrupt_packets: int = 0
    corrupt_frames: int = 0
    resized_frames: int = 0
    deinterlaced: bool = False
    notices: list[str] = field(default_factory=list)


class VideoReader:
    """Iterate a video source as :class:`gpen_video.types.Frame` (uint8 [H, W, 3] RGB, upright).

    Args:
        source: file path, URL (rtsp/http/udp/...), camera index or ``/dev/videoN`` (v4l2).
        deinterlace: run FFmpeg's bwdif on frames flagged interlaced (one output frame per input frame,
            at the input frame's timestamp: the frame rate and the timeline stay the source's).
        start, end: trim window in seconds from the beginning of the source (its container start
            time): a frame is delivered when start <= its time < end (a time within half a pts tick
            of a bound counts as on it). Seeks to the keyframe before ``start``, drops frames before
            it, stops at the first frame at or after ``end``.
        realtime: pace a file at its native rate and stamp ``Frame.time`` (a fake camera).
        options: FFmpeg demuxer/protocol options, e.g. ``{"rtsp_transport": "tcp"}``.
        io_timeout: seconds a URL or camera may keep an open or a read waiting (see ``media.network``).
        hwaccel: "none", or "cuda" for NVDEC where there is one (else the CPU decoder, with a notice).
        keep_planes: give each frame its planes as decoded (``Frame.decoded_planes``) where they are what the
            video writer encodes: yuv420p, BT.709 (declared, or undeclared from 720 lines up), limited range,
            even size, upright, not rescaled.

    Raises:
        MediaOpenError: the source cannot be opened, has no video stream or no decodable frame.
        SourceTimeout: a URL or camera sent nothing for ``io_timeout`` seconds (also while iterating).
        InputError: the trim window is invalid, or starts at or past the end of the source (when
            the duration is not known, iterating raises it instead of yielding nothing).
    """

    def __init__(
        self,
        source: str | Path | int,
        *,
        deinterlace: bool = True,
        start: float | None = None,
        end: float | None = None,
        realtime: bool = False,
        options: dict[str, str] | None = None,
        io_timeout: float = InputSettings.io_timeout,
        hwaccel: str = InputSettings.hwaccel,
        keep_planes: bool = False,
    ) -> None:
        if start is not None and start < 0:
            raise InputError(f"start must be >= 0, got {start}")
        if end is not None and end <= (start or 0.0):
            raise InputError(f"end ({end}) must be after start ({start or 0.0})")
        url, demuxer = demuxer_input(source)
        self.source = url
        self.stats = ReaderStats()
        self._realtime = realtime
        self._deinterlace_wanted = deinterlace
        self._live = is_device(source) or is_live_url(url)
        self._io_timeout = io_timeout
        if hwaccel not in HWACCELS:
            raise InputError(f"hwaccel must be one of {', '.join(HWACCELS)}, got {hwaccel!r}")
        self._hwaccel = hwaccel
        self._keep_planes = keep_planes
        # Closing the container under a read in another thread would free it mid-call: see close().
        self._lock = threading.Lock()
        self._reading = self._closed = False
        self._last_time: Fraction | None = None  # source seconds of the last delivered frame
        if not waits_for_data(url):
            # A file: URL names a local file too: a FIFO behind it would block the open just the same.
            if (path := local_file(url)) is not None and (problem := file_problem(path)):
                raise video_open_error(url, problem)
            self._open(url, demuxer, options, start, end)
        else:
            run_interruptibly(lambda: self._open(url, demuxer, options, start, end), discard=VideoReader.close)

    def _open(self, url: str, demuxer: str | None, options: dict[str, str] | None, start: float | None,
              end: float | None) -> VideoReader:
        """Open the container and decode the first frame (the slow part for a network source)."""
        try:
            self._container = self._open_decoding(url, demuxer, options)
        except (av.FFmpegError, OSError, ValueError) as exc:
            if is_timeout(exc):
                raise SourceTimeout(url, self._io_timeout) from None
            raise video_open_error(url, failure_reason(url, exc)) from None
        try:
            self._setup(start, end)
        except BaseException:
            self._container.close()
            raise
        return self

    def _open_decoding(self, url: str, demuxer: str | None, options: dict[str, str] | None) -> av.container.InputContainer:
        """The container, decoding on the GPU when asked and possible, else on the CPU."""
        if self._hwaccel == "cuda":
            accel = HWAccel(device_type="cuda", allow_software_fallback=True)
            try:
                return open_container(url, format=demuxer, options=options, io_timeout=self._io_timeout, hwaccel=accel)
            except (av.FFmpegError, OSError) as exc:  # no CUDA device, driver or NVDEC: EPERM, ENODEV...
                if is_timeout(exc):
                    raise
                self._notice(f"no NVDEC decoding here ({exc}); decoding on the CPU")
        return open_container(url, format=demuxer, options=options, io_timeout=self._io_timeout)

    # ---------------------------------------------------------------- setup
    def _setup(self, start: float | None, end: float | None) -> None:
        container = self._container
        if not container.streams.video:
            raise video_open_error(self.source, "no video stream")
        stream = container.streams.video[0]
        # Frame threading adds a frame of latency per thread: fine for files, not for live capture.
        stream.codec_context.thread_type = "SLICE" if self._live else "AUTO"
        self._stream = stream
        tb = stream.time_base or Fraction(1, 1_000_000)
        self._tb = Fraction(tb)
        self._origin = container_start(container)
        self._start = None if start is None else self._origin + Fraction(start)
        self._end = None if end is None else self._origin + Fraction(end)
        # Time of the first decoded frame, for frames without pts (counted on at 1/fps): decoding
        # begins at the seek point, which is the keyframe at or before ``start`` (best guess: ``start``).
        self._decode_base = self._origin
        if self._start is not None and self._start > self._origin:
            self._decode_base = self._start
            try:
                container.seek(int(self._start / self._tb), stream=stream, backward=True)
            except av.FFmpegError as exc:
                raise InputError(f"cannot seek {self.source!r} to {start}s: {exc}") from None

        self._raw = self._decode()
        try:
            first = next(self._raw)
        except StopIteration:
            raise video_open_error(self.source, "no decodable video frame") from None
        self._first_size = (first.width, first.height)
        self._rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
        if self._rotation % 90:
            self._notice(f"display rotation {self._rotation} is not a multiple of 90; ignored")
            self._rotation = 0
        interlaced = first.interlaced_frame or stream.codec_context.field_order not in _PROGRESSIVE_FIELD_ORDERS
        self._frames = self._chain_first(first)
        if interlaced:
            if self._deinterlace_wanted:
                self._frames = self._bwdif(self._frames)
                self.stats.deinterlaced = True
            else:
                self._notice("input is interlaced and deinterlacing is off")
        if first.color_trc in HDR_TRANSFERS:
            self._notice(f"HDR input ({HDR_TRANSFERS[first.color_trc]}): output is SDR, colours will look flat")
        self.info = self._make_info(first)
        if start is not None and self.info.duration is not None and start >= self.info.duration:
            raise self._past_end(start)

    def _make_info(self, first: av.VideoFrame) -> VideoInfo:
        container, stream = self._container, self._stream
        width, height = self._first_size
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
        sar = Fraction(sar) if sar else None
        if sar == 1:
            sar = None
        if self._rotation in (90, 270):
            width, height = height, width
            sar = 1 / sar if sar else None
        fps = frame_rate(stream)
        duration = None
        if container.duration and not self._live:
            duration = container.duration / 1_000_000
        elif stream.duration and not self._live:
            duration = float(stream.duration * self._tb)
        frame_count = stream.frames or None
        if frame_count is None and duration and fps:
            frame_count = round(duration * fps)
        if stream.start_time is not None:
            start_time = float(stream.start_time * self._tb)
        else:
            start_time = float(first.pts * self._tb) if first.pts is not None else 0.0
        return VideoInfo(
            width=width,
            height=height,
            fps=fps,
            time_base=self._tb,
            start_time=start_time,
            duration=duration,
            frame_count=frame_count,
            sample_aspect_ratio=sar,
            rotation=self._rotation,
            is_live=self._live or self._realtime,
            codec=stream.codec_context.name,
            has_audio=bool(container.streams.audio),
        )

    def _past_end(self, start: float) -> InputError:
        length = "of unknown length" if self.info.duration is None else f"{self.info.duration:.2f} s long"
        return InputError(f"start {start:g} s is past the last frame of {self.source} ({length})")

    def _notice(self, text: str) -> None:
        log.warning("%s: %s", self.source, text)
        self.stats.notices.append(text)

    # ---------------------------------------------------------------- decoding stages
    def _decode(self) -> Iterator[av.VideoFrame]:
        """Decoded frames; packets the decoder rejects are skipped and counted."""
        stream = self._stream
        packets = self._container.demux(stream)
        while True:
            try:
                packet = self._read(packets)
            except StopIteration:
                break
            except av.FFmpegError as exc:  # damaged container data: keep what decoded so far
                if is_timeout(exc):
                    raise SourceTimeout(self.source, self._io_timeout) from None
                self.stats.corrupt_packets += 1
                self._notice(f"demuxing stopped early: {exc}")
                packet = None
            try:
                frames = stream.codec_context.decode(packet)
            except av.error.EOFError:
                return
            except av.FFmpegError:
                self.stats.corrupt_packets += 1
                continue
            for frame in frames:
                if frame.is_corrupt:
                    self.stats.corrupt_frames += 1
                yield frame
            if packet is None:
                return

    def _read(self, packets: Iterator[av.Packet]) -> av.Packet:
        """The next packet; StopIteration at the end, or once the reader was closed."""
        with self._lock:
            if self._closed:
                raise StopIteration
            self._reading = True
        try:
            return next(packets)
        finally:
            with self._lock:
                self._reading = False
                if self._closed:  # close() came during the read and left the container to us
                    self._container.close()

    def _chain_first(self, first: av.VideoFrame) -> Iterator[av.VideoFrame]:
        yield first
        yield from self._raw

    def _bwdif(self, frames: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
        """Deinterlace with bwdif, one frame out per frame in, interlaced-flagged frames only.

        bwdif counts its output in half the input's time base (room for its field-rate mode): the
        frames come back with their pts in the stream's time base, so the timeline stays the source's.
        """
        graph = av.filter.Graph()
        src = graph.add_buffer(template=self._stream)
        bwdif = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
        sink = graph.add("buffersink")
        src.link_to(bwdif)
        bwdif.link_to(sink)
        graph.configure()
        for frame in frames:
            graph.push(frame)
            yield from self._drain(graph)
        graph.push(None)
        yield from self._drain(graph)

    def _drain(self, graph: av.filter.Graph) -> Iterator[av.VideoFrame]:
        while True:
            try:
                frame = graph.vpull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            if frame.pts is not None and frame.time_base is not None and Fraction(frame.time_base) != self._tb:
                frame.pts = round(frame.pts * Fraction(frame.time_base) / self._tb)
                frame.time_base = self._tb
            yield frame

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """uint8 [H, W, 3] RGB at the first frame's size, upright."""
        width, height = self._first_size
        resize = (frame.width, frame.height) != (width, height)
        if resize:
            self.stats.resized_frames += 1
            if self.stats.resized_frames == 1:
                self._notice(f"resolution changed to {frame.width}x{frame.height}; rescaling to {width}x{height}")
        fmt = frame.format.name
        frame = planar(frame)
        rgb = frame.to_ndarray(
            format="rgb24",
            width=width if resize else None,
            height=height if resize else None,
            src_colorspace=source_matrix(frame.colorspace, frame.height),
            src_color_range=source_range(frame.color_range, fmt).upper(),
            interpolation="BICUBIC" if resize else None,
        )
        if self._rotation:
            rgb = np.ascontiguousarray(np.rot90(rgb, self._rotation // 90))
        return rgb

    def _decoded_planes(self, frame: av.VideoFrame) -> np.ndarray | None:
        """uint8 [3 H / 2, W] yuv420p planes of ``frame`` as decoded, when asked for and in the writer's own
        format (see ``keep_planes``); else None."""
        if not self._keep_planes or frame.format.name != "yuv420p" or self._rotation:
            return None
        if (frame.width, frame.height) != self._first_size or frame.width % 2 or frame.height % 2:
            return None
        if source_matrix(frame.colorspace, frame.height) != "itu709":
            return None
        if source_range(frame.color_range, "yuv420p") != "mpeg":
            return None
        return frame.to_ndarray()

    # ---------------------------------------------------------------- public iteration
    def __iter__(self) -> Iterator[Frame]:
        fps_tick = (1 / self.info.fps / self._tb) if self.info.fps else None
        clock0: tuple[float, Fraction] | None = None
        index = 0
        for decoded, raw in enumerate(self._frames):
            pts = raw.pts
            if pts is not None:
                when = pts * self._tb
            elif fps_tick is not None:
                when = self._decode_base + decoded * fps_tick * self._tb
            else:
                when = None
            if when is not None and self._start is not None and when < self._start - self._tb / 2:
                continue
            if when is not None and self._end is not None and when >= self._end - self._tb / 2:
                break
            image = self._to_rgb(raw)
            stamp = None
            if self._realtime and when is not None:
                if clock0 is None:
                    clock0 = (time.monotonic(), when)
                delay = clock0[0] + float(when - clock0[1]) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if self._realtime or self._live:
                stamp = time.monotonic()
            self.stats.frames += 1
            self._last_time = when
            yield Frame(index=index, pts=pts, time_base=self._tb, image=image, time=stamp,
                        decoded_planes=self._decoded_planes(raw))
            index += 1
        if self._start is not None and not self.stats.frames:  # a start before the duration, but after the last frame
            raise self._past_end(float(self._start - self._origin))
        if self.stats.corrupt_packets or self.stats.corrupt_frames:
            self._notice(
                f"skipped {self.stats.corrupt_packets} undecodable packet(s); "
                f"{self.stats.corrupt_frames} frame(s) decoded with errors"
            )
        self._check_length()

    def _check_length(self) -> None:
        """Warn when the frames stop well before the length the container declares (a truncated file),
        or before the end of the trim window where that lies within the declared length.

        Judged by time, not by frame count: a variable-rate stream has fewer frames than duration × fps.
        """
        info, stream = self.info, self._stream
        # The video stream's own duration where the container has one: a longer audio track is no loss.
        seconds = float(stream.duration * self._tb) if stream.duration else info.duration
        if info.is_live or not seconds or not info.fps or self._last_time is None:
            return
        start = None if self._start is None else float(self._start - self._origin)
        end = None if self._end is None else float(self._end - self._origin)
        declared = frames_in_window(info.fps, seconds, start, end)
        self.stats.declared_frames = declared
        begin, finish = start or 0.0, seconds if end is None else min(end, seconds)
        reached = float(self._last_time - self._origin) + 1 / float(info.fps)
        if reached >= begin + TRUNCATED_SHARE * (finish - begin):
            return
        window = "" if start is None and end is None else f" from {begin:g} to {finish:g} s"
        self._notice(f"warning: the input ends early: decoded {self.stats.frames} of the {declared} frames "
                     f"its container declares{window} ({reached:.2f} of {seconds:g} s); the file may be truncated")

    def close(self) -> None:
        """Close the source. During a read in another thread, that read closes it when it returns."""
        with self._lock:
            self._closed = True
            if self._reading:
                return
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def planar(frame: av.VideoFrame) -> av.VideoFrame:
    """``frame``, with NV12 (what NVDEC gives) turned into yuv420p: the same samples, moved (exact,
    0.3 ms at 1080p). swscale converts yuv420p to RGB with its fast exact path (1 ms at 1080p), NV12
    with a generic one that is 4 times slower and rounds differently (mean 1 level)."""
    return frame.reformat(format="yuv420p") if frame.format.name == "nv12" else frame
