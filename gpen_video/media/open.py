"""Open a job's reader and writer the same way for every caller (one file, batch units, live mode)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from ..errors import MediaOpenError
from ..protocols import EncodeListener
from .camera import OpenCVCamera
from .info import VideoInfo
from .reader import VideoReader
from .settings import EncodeSettings, InputSettings
from .source import FrameSource, is_device, is_live_url, is_url
from .writer import VideoWriter

STALL_SECONDS = 5.0  # a network read that waits longer than this fails, so live mode counts the stream as lost


def open_reader(source: str | Path | int, inputs: InputSettings = InputSettings(), *,
                start: float | None = None, end: float | None = None, realtime: bool = False,
                options: dict[str, str] | None = None, keep_planes: bool = False) -> VideoReader:
    """A :class:`VideoReader` on ``source`` with the run's deinterlacing and network timeout, trimmed to
    [start, end) seconds.

    ``options`` are FFmpeg demuxer/protocol options, ``keep_planes`` keeps the decoded planes (see
    :class:`VideoReader`).
    """
    return VideoReader(source, deinterlace=inputs.deinterlace, start=start, end=end, realtime=realtime,
                       options=options, io_timeout=inputs.io_timeout, hwaccel=inputs.hwaccel,
                       keep_planes=keep_planes)


def open_source(source: str | int, inputs: InputSettings = InputSettings()) -> FrameSource:
    """Open a live source (webcam, device, URL or file) with the shared media reader.

    Files and on-demand URLs (http, ...) are paced at their real-time rate (a file is a "fake
    camera"); live protocols (rtsp, udp, ...) are not, so a burst of buffered frames is dropped by
    the capture slot instead of being spread out. Opening waits up to ``inputs.io_timeout``; a
    network read that stalls fails after ``STALL_SECONDS`` at most. A camera that PyAV cannot open is
    tried with OpenCV.

    Raises:
        MediaOpenError: the source cannot be opened.
    """
    if not is_device(source):
        stall = min(STALL_SECONDS, inputs.io_timeout)
        options = {"rw_timeout": str(int(stall * 1_000_000))} if is_url(source) else None
        return open_reader(source, inputs, realtime=not is_live_url(source), options=options)
    try:
        return open_reader(source, inputs)
    except MediaOpenError as exc:
        try:
            return OpenCVCamera(source)
        except MediaOpenError:
            raise MediaOpenError(f"{exc}; OpenCV cannot open it either") from None


def open_writer(
    dest: str | Path,
    info: VideoInfo,
    encode: EncodeSettings,
    *,
    source: str | Path | None = None,
    start: float | None = None,
    width: int | None = None,
    height: int | None = None,
    time_base: Fraction | None = None,
    overwrite: bool = False,
    inputs: InputSettings = InputSettings(),
    tags: dict[str, str] | None = None,
    copy_from_first_frame: bool = False,
    threads: int | None = None,
    listener: EncodeListener | None = None,
) -> VideoWriter:
    """A :class:`VideoWriter` for frames shaped like ``info``'s.

    Args:
        dest: the output file (written to a temporary file, renamed on success).
        info: the reader's stream description: size, time base, fps, pixel aspect ratio.
        encode: the run's ``[encode]`` section.
        source: input whose audio, subtitles and metadata are copied (None: video only), read with
            ``inputs``' network timeout.
        start: the reader's trim start, so the copied streams are cut to match.
        width, height: frame size when it differs from the source's (side-by-side output is 2× as wide,
            an upscaled output N× in both).
        time_base: pts ticks of the written frames when not the source's (live recordings).
        overwrite: replace an existing ``dest``.
        tags: container metadata to set (see :class:`VideoWriter`).
        copy_from_first_frame: copied streams begin at the first written frame (see ``VideoWriter``).
        threads, listener: fixed encoder threads, and who hears each frame's encoded planes (see ``VideoWriter``).
    """
    return VideoWriter(
        dest,
        width=width or info.width,
        height=height or info.height,
        time_base=time_base or info.time_base,
        fps=info.fps,
        source=source,
        start=start,
        settings=encode,
        overwrite=overwrite,
        sample_aspect_ratio=info.sample_aspect_ratio,
        io_timeout=inputs.io_timeout,
        tags=tags,
        copy_from_first_frame=copy_from_first_frame,
        threads=threads,
        listener=listener,
    )
