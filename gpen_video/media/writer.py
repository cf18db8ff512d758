"""VideoWriter: encode RGB frames with their source timestamps, copy the source's audio, write safely.

Timeline: output timestamps are source timestamps minus one shift shared by every stream,
``shift = source container start time + trim start`` (or the first frame's time without a source),
so the output starts near zero, VFR timing survives and stream offsets (e.g. audio starting 10 ms
after video) are kept. See docs/media.md.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import GpenVideoError, InputError
from ..protocols import EncodeListener
from ..types import Frame
from .colour import BT709, RANGE_JPEG, RANGE_MPEG
from .encoders import check_pix_fmt, encoder_options, resolve_codec
from .output import check_destination, close_quietly, commit, discard, temp_path_for
from .planes import visible_planes
from .settings import EncodeSettings, InputSettings
from .streams import Passthrough, open_passthrough, video_end
from .untouched import keep_untouched

log = logging.getLogger(__name__)

__all__ = ["EncodeSettings", "VideoWriter", "WriterStats"]


@dataclass
class WriterStats:
    """What was written. ``retimed_frames``: frames whose pts had to move to stay increasing."""

    frames: int = 0
    audio_packets: int = 0
    subtitle_packets: int = 0
    reencoded_streams: list[str] = field(default_factory=list)
    dropped_packets: int = 0
    fixed_packets: int = 0
    retimed_frames: int = 0
    codec: str = ""
    padded_to: tuple[int, int] | None = None
    path: str = ""
    notices: list[str] = field(default_factory=list)


def _even_size(width: int, height: int, pix_fmt: str) -> tuple[int, int]:
    """Smallest size >= (width, height) that the pixel format's chroma subsampling can hold."""
    fmt = av.VideoFormat(pix_fmt)
    sub_x = fmt.chroma_width(2) == 1
    sub_y = fmt.chroma_height(2) == 1
    return width + (width % 2 if sub_x else 0), height + (height % 2 if sub_y else 0)


class VideoWriter:
    """Encode :class:`Frame` objects (uint8 [height, width, 3] RGB) into ``dest``.

    Args:
        dest: output file; its extension picks the container.
        width, height: size of every frame given to :meth:`write`.
        time_base: seconds per pts tick of the frames given to :meth:`write`.
        fps: nominal rate; used for frames without pts and as the stream's average rate.
        source: input whose audio/subtitle streams and metadata are copied (None: video only).
        start: the trim start given to the reader (seconds from the source start).
        settings: encoder settings.
        overwrite: replace an existing ``dest``.
        sample_aspect_ratio: pixel aspect ratio to declare, None for square pixels.
        io_timeout: seconds a network ``source`` may keep the copy of its streams waiting.
        tags: container metadata to set, over any copied from ``source`` (e.g. ``{"comment": ...}``;
            ``comment`` is the key that mp4, mov, mkv, webm and avi all keep).
        copy_from_first_frame: the copied streams begin where the first written frame does (live
            recordings, which begin wherever the capture was), not at the source's start.
        threads: encoder threads, fixed (x264's output depends on its thread count, FFV1's slices on it):
            the same frames then give the same file on any machine [default: FFmpeg's choice by CPU count].
        listener: hears the visible planes of every frame as it goes to the encoder (``EncodeListener``).

    A ``gray`` stream (``settings.pix_fmt``) holds plain values 0-255 (full range): a mask, written with
    ``write_planes``.

    Raises:
        InputError: dest is the source, exists without overwrite, its folder is missing or refuses
            new files, its extension names no known container or one that cannot hold the codec,
            or the encoder/pix_fmt is unavailable.
        MediaOpenError: ``source`` cannot be opened.
    """

    def __init__(
        self,
        dest: str | Path,
        *,
        width: int,
        height: int,
        time_base: Fraction,
        fps: Fraction | None,
        source: str | Path | None = None,
        start: float | None = None,
        settings: EncodeSettings = EncodeSettings(),
        overwrite: bool = False,
        sample_aspect_ratio: Fraction | None = None,
        io_timeout: float = InputSettings.io_timeout,
        tags: dict[str, str] | None = None,
        copy_from_first_frame: bool = False,
        threads: int | None = None,
        listener: EncodeListener | None = None,
    ) -> None:
        if width <= 0 or height <= 0:
            raise InputError(f"invalid output size {width}x{height}")
        self.dest = check_destination(dest, source=source, overwrite=overwrite)
        codec, notice = resolve_codec(settings.codec)
        check_pix_fmt(codec, settings.pix_fmt)
        options, bit_rate, notices = encoder_options(codec, settings)
        self.stats = WriterStats(codec=codec, path=str(self.dest), notices=[n for n in [notice, *notices] if n])
        for text in self.stats.notices:
            log.warning(text)
        self._size = (width, height)
        self._coded = _even_size(width, height, settings.pix_fmt)
        if self._coded != self._size:
            self.stats.padded_to = self._coded
        self._pix_fmt = settings.pix_fmt
        self._tb = Fraction(time_base)
        self._fps = Fraction(fps) if fps else None
        self._start = start
        self._overwrite = overwrite
        self._io_timeout = io_timeout
        self._copy_from_first_frame = copy_from_first_frame
        self._threads, self._listener = threads, listener
        self._temp = temp_path_for(self.dest)
        self._passthrough: Passthrough | None = None
        self._closed = self._finished = False
        self._last_pts: int | None = None
        self._last_step: int | None = None
        self._shift_ticks: int | None = None
        self._first_time: float | None = None
        try:
            self._output = av.open(str(self._temp), "w")
        except (av.FFmpegError, ValueError) as exc:
            discard(self._temp)
            raise InputError(f"cannot write {self.dest.name}: no container for {self.dest.suffix!r} ({exc})") from None
        try:
            self._stream = self._add_video_stream(codec, options, bit_rate, sample_aspect_ratio)
            if source is not None:
                self._open_passthrough(str(source))
            self._output.metadata.update(tags or {})
        except BaseException:
            self.abort()
            raise

    def _add_video_stream(self, codec: str, options: dict[str, str], bit_rate: int | None, sar: Fraction | None):
        try:
            stream = self._output.add_stream(codec, rate=self._fps) if self._fps else self._output.add_stream(codec)
        except ValueError:  # e.g. .png (image2) or .gif for an H.264 stream
            raise InputError(f"cannot write {self.dest.name}: {self.dest.suffix} files (FFmpeg's "
                             f"{self._output.format.name!r} format) cannot hold {codec} video") from None
        ctx = stream.codec_context
        ctx.width, ctx.height = self._coded
        ctx.pix_fmt = self._pix_fmt
        ctx.time_base = self._tb
        stream.time_base = self._tb
        ctx.thread_type = "AUTO"
        if self._threads is not None:
            ctx.thread_count = self._threads
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = BT709
        ctx.color_range = RANGE_JPEG if self._pix_fmt == "gray" else RANGE_MPEG
        if sar:
            ctx.sample_aspect_ratio = Fraction(sar)
        if bit_rate is not None:
            ctx.bit_rate = bit_rate
        ctx.options = options
        try:
            ctx.open()  # now, so that settings the encoder rejects fail before any work, not at the first frame
        except av.FFmpegError as exc:
            raise InputError(f"encoder {codec} rejects these settings ({exc})") from None
        return stream

    def _open_passthrough(self, source: str) -> None:
        self._passthrough, shift, video_meta = open_passthrough(source, self._output, start=self._start,
                                                                io_timeout=self._io_timeout)
        self._shift_ticks = round(shift / self._tb)
        self._stream.metadata.update(video_meta)

    # ------------------------------------------------------------ writing
    def _out_pts(self, frame: Frame) -> int:
        """Output pts (writer time_base), strictly increasing."""
        if frame.pts is not None:
            pts = frame.pts if Fraction(frame.time_base) == self._tb else round(frame.pts * Fraction(frame.time_base) / self._tb)
            if self._shift_ticks is None:  # no source: start the output at the first frame
                self._shift_ticks = pts
            pts -= self._shift_ticks
        elif self._last_pts is None:
            self._shift_ticks = self._shift_ticks or 0
            self._first_time = frame.time
            pts = 0
        elif self._fps:
            pts = round(self.stats.frames / self._fps / self._tb)
        elif frame.time is not None and self._first_time is not None:
            pts = round(Fraction(frame.time - self._first_time) / self._tb)
        else:
            pts = self._last_pts + (self._last_step or round(Fraction(1, 25) / self._tb))
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
            self.stats.retimed_frames += 1
        if self._last_pts is not None:
            self._last_step = pts - self._last_pts
        self._last_pts = pts
        return pts

    @property
    def takes_planes(self) -> bool:
        """Whether ``write`` encodes given yuv420p planes as they are (a yuv420p stream at an even size)."""
        return self._pix_fmt == "yuv420p" and self._coded == self._size

    def write(self, frame: Frame, planes: np.ndarray | None = None, changed: np.ndarray | None = None) -> None:
        """Encode one frame; ``frame.image`` is uint8 [height, width, 3] RGB.

        ``planes``: the same picture already converted to yuv420p, uint8 [3 height / 2, width] (Y, U, V
        one after the other; BT.709, limited range), e.g. on a GPU by ``gpu.colour.rgb_to_i420``; encoded
        as they are when the stream is yuv420p at an even size, which skips the RGB -> YUV conversion.
        ``changed``: uint8 [height, width], 0 where the picture is the decoded input's own (a paste weight):
        when the stream takes planes and ``frame.decoded_planes`` holds the input's, those are encoded there
        (``untouched.keep_untouched``), so those pixels come out as they were decoded.
        """
        image = frame.image
        if image.dtype != np.uint8 or image.shape != (self._size[1], self._size[0], 3):
            raise ValueError(f"expected uint8 [{self._size[1]}, {self._size[0]}, 3], got {image.dtype} {image.shape}")
        if planes is not None and self.takes_planes:
            if planes.dtype != np.uint8 or planes.shape != (self._size[1] * 3 // 2, self._size[0]):
                raise ValueError(f"expected yuv420p planes uint8 [{self._size[1] * 3 // 2}, {self._size[0]}], "
                                 f"got {planes.dtype} {planes.shape}")
        else:
            planes = None
        decoded = frame.decoded_planes  # the input's: of another size when the output is enlarged
        if changed is not None and decoded is not None and self.takes_planes and decoded.shape == (
                self._size[1] * 3 // 2, self._size[0]):
            converted = planes if planes is not None else self._convert(image).to_ndarray()
            planes = decoded if not changed.any() else keep_untouched(converted, decoded, changed)
        yuv = av.VideoFrame.from_ndarray(planes, format="yuv420p") if planes is not None else self._convert(image)
        if self._listener is not None:
            self._listener.encoded(visible_planes(yuv))
        self._encode(frame, yuv)

    def write_planes(self, frame: Frame, planes: np.ndarray) -> None:
        """Encode a picture given in the stream's own pixel format, uint8 [height, width] for ``gray``
        (``frame`` gives the timing; its image is not read)."""
        if self._pix_fmt != "gray" or planes.dtype != np.uint8 or planes.shape != (self._size[1], self._size[0]):
            raise ValueError(f"write_planes takes uint8 [{self._size[1]}, {self._size[0]}] for a gray stream, "
                             f"got {planes.dtype} {planes.shape} for {self._pix_fmt}")
        self._encode(frame, av.VideoFrame.from_ndarray(planes, format="gray"))

    def _encode(self, frame: Frame, yuv: av.VideoFrame) -> None:
        """Encode ``yuv`` at ``frame``'s time and copy the source's streams up to it."""
        yuv.pts = self._out_pts(frame)
        yuv.time_base = self._tb
        self._output.mux(self._stream.encode(yuv))
        self.stats.frames += 1
        if self._passthrough is not None:
            if self._copy_from_first_frame and self.stats.frames == 1:
                self._passthrough.skip_before((yuv.pts + self._shift_ticks) * self._tb)
            self._passthrough.pump((yuv.pts + self._shift_ticks) * self._tb)

    def _convert(self, image: np.ndarray) -> av.VideoFrame:
        """uint8 [height, width, 3] RGB -> a frame in the stream's pixel format (swscale), padded to the coded size."""
        if self._coded != self._size:
            pad_y, pad_x = self._coded[1] - self._size[1], self._coded[0] - self._size[0]
            image = np.pad(image, ((0, pad_y), (0, pad_x), (0, 0)), mode="edge")
        rgb = av.VideoFrame.from_ndarray(image, format="rgb24")
        # BT.709 matrix, limited range: what the stream is tagged with (tags live on the codec context).
        return rgb.reformat(format=self._pix_fmt, dst_colorspace="itu709", dst_color_range="MPEG")

    def _video_end(self) -> Fraction:
        """Source-timeline seconds where the last frame ends."""
        return video_end(self._last_pts, self._shift_ticks, self._tb, self._fps, self._last_step)

    def finish(self) -> None:
        """Flush the encoder and finish the copied streams into the temporary file, not published yet
        (``close`` publishes it): a run that writes several files finishes them all before it publishes one."""
        if self._finished or self._closed:
            return
        try:
            if self.stats.frames == 0:  # first: the file is thrown away, so flushing would be wasted work
                raise GpenVideoError(f"no frames to write to {self.dest}")
            self._output.mux(self._stream.encode(None))
            if self._passthrough is not None:
                self._passthrough.finish(self._video_end())
                self._collect(self._passthrough)
            self._output.close()
            self._finished = True
        except BaseException:
            self.abort()
            raise

    def close(self, before_publish: Callable[[Path], None] | None = None) -> WriterStats:
        """Flush the encoder, finish the copied streams (``finish``), and move the file into place.

        ``before_publish`` is given the finished temporary file before it takes the destination's name
        (to sign it, or hash it for an audit log); if it raises, nothing is published.

        Raises:
            DestinationTaken: without ``overwrite``, ``dest`` appeared meanwhile; it is left as it
                is and the finished file is kept beside it (``output.commit``).
        """
        if self._closed:
            return self.stats
        self.finish()
        try:
            if before_publish is not None:
                before_publish(self._temp)
            commit(self._temp, self.dest, overwrite=self._overwrite)
            self._closed = True
        except BaseException:
            self.abort()
            raise
        return self.stats

    def _collect(self, passthrough: Passthrough) -> None:
        p = passthrough.stats
        self.stats.audio_packets = p.audio_packets
        self.stats.subtitle_packets = p.subtitle_packets
        self.stats.reencoded_streams = list(p.reencoded_streams)
        self.stats.dropped_packets = p.dropped_packets
        self.stats.fixed_packets = p.fixed_packets
        self.stats.notices.extend(p.notices)

    def abort(self) -> None:
        """Stop writing and remove the temporary file; the destination is left untouched."""
        if self._closed:
            return
        self._closed = True
        # ``_output`` exists here: __init__ raises before any abort when the container cannot be opened.
        close_quietly(getattr(self._passthrough, "close", None), self._output.close)
        discard(self._temp)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
