"""What a video source is: the ``FrameSource`` interface and the meaning of a source string.

A source is a file path, a URL (``scheme://...``), a webcam index (an int, ``0`` on the command
line) or a V4L2 device path (``/dev/videoN``). Every module that has to tell these apart asks here.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import InputMissing
from .info import VideoInfo

if TYPE_CHECKING:  # the command's early checks use this module without numpy
    from ..types import Frame

_DEVICE = re.compile(r"/dev/video\d+")
# Protocols whose frames arrive as they are produced: reading them faster is impossible, pacing them wrong.
_LIVE_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "srt", "tcp")

Source = str | Path | int




class FrameSource(Protocol):
    """What live mode reads: ``VideoReader``, ``OpenCVCamera`` or a test's stand-in.

    Iterating yields uint8 [H, W, 3] RGB frames of ``info``'s size until the source ends.
    """

    info: VideoInfo

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def is_url(source: Source) -> bool:
    """A network or protocol source (``scheme://...``), not a local path or device."""
    return not isinstance(source, int) and "://" in str(source)


def is_device(source: Source) -> bool:
    """A camera: a webcam index or a V4L2 device path (``/dev/videoN``)."""
    return isinstance(source, int) or bool(_DEVICE.fullmatch(str(source)))


def is_live_url(source: Source) -> bool:
    """A URL of a live protocol (rtsp, udp, rtmp, srt, ...), as opposed to on-demand ones (http, file)."""
    return is_url(source) and str(source).split("://", 1)[0].lower() in _LIVE_SCHEMES


def is_stream(source: Source) -> bool:
    """True for cameras and URLs, whose end means the source was lost; False for files."""
    return is_device(source) or is_url(source)


def local_file(source: Source) -> Path | None:
    """The local file FFmpeg reads for ``source``, as spelled (not resolved); None for cameras and network URLs.

    ``file:`` URLs name a local file: FFmpeg drops the ``file:`` prefix and opens the rest as a path,
    without percent-decoding, so ``file:///tmp/v.mp4`` and ``file://tmp/v.mp4`` both name
    ``/tmp/v.mp4``, and ``file:v.mp4`` names ``v.mp4`` in the working folder.
    """
    if is_device(source):
        return None
    text = str(source)
    if text.startswith("file:"):
        text = text[len("file:"):]
        if text.startswith("/"):  # "//x" and "///x" are "/x" to the kernel, but pathlib keeps a leading "//"
            text = "/" + text.lstrip("/")
        return Path(text)
    return None if is_url(text) else Path(text)


def source_exists(source: Source) -> bool:
    """False for a local file (a path or a ``file:`` URL) or a device path that does not exist;
    True otherwise (whether a network URL answers, only opening it tells)."""
    if isinstance(source, int):
        return True
    target = source if is_device(source) else local_file(source)
    return target is None or os.path.exists(target)


NO_SUCH_FILE = "no such file"  # what ``file_problem`` says of a path that is not there


def file_problem(path: str | Path) -> str | None:
    """Why the local ``path`` cannot be read as a media file, or None for a regular file.

    Folders, named pipes (reading one blocks until a writer comes), devices such as ``/dev/zero``
    (endless) and sockets are named as what they are.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return NO_SUCH_FILE
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "it is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a file"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a file"
    return "it is not a regular file"


def parse_source(text: str) -> str | int:
    """``"0"`` -> webcam index 0; a URL, device or existing file (a path or a ``file:`` URL) as given.

    Raises:
        InputMissing: a file that does not exist.
    """
    if text.isdigit():
        return int(text)
    if is_device(text) or source_exists(text):
        return text
    raise InputMissing(f"source not found: {text} (give a webcam index, /dev/videoN, a URL or a video file)")


def demuxer_input(source: Source) -> tuple[str, str | None]:
    """(what FFmpeg opens, forced demuxer): webcams and ``/dev/videoN`` go through v4l2."""
    if isinstance(source, int):
        return f"/dev/video{source}", "v4l2"
    text = str(source)
    return text, "v4l2" if is_device(text) else None
