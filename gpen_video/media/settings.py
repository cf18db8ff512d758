"""The ``[input]``, ``[encode]`` and ``[output]`` settings: how sources are read, how the output is encoded and
which files are written beside it, with the names each setting accepts and the checks that types alone cannot
express. Light: no PyAV or numpy."""
from __future__ import annotations

from dataclasses import dataclass

HWACCELS = ("none", "cuda")  # InputSettings.hwaccel: no hardware decoding, or NVDEC


@dataclass(frozen=True)
class InputSettings:
    """The ``[input]`` settings section: how sources are read.

    ``io_timeout``: seconds a network source (or a camera) may keep an open or a read waiting before
    it fails; a stop signal does not wait for it.
    ``hwaccel``: "none", or "cuda" to decode with NVDEC where FFmpeg and the machine have it (frames
    still arrive in host memory; it takes decoding off the CPU), else on the CPU with a notice.
    ``deinterlace``: run FFmpeg's bwdif on frames flagged interlaced, as they are read.
    """

    io_timeout: float = 15.0
    hwaccel: str = "none"
    deinterlace: bool = True


@dataclass(frozen=True)
class EncodeSettings:
    """The ``[encode]`` settings section: how the output video is encoded.

    ``bitrate`` (bits/s), when given, replaces constant quality (``crf``).
    """

    codec: str = "libx264"
    crf: int | None = 18
    preset: str | None = "medium"
    pix_fmt: str = "yuv420p"
    bitrate: int | None = None


@dataclass(frozen=True)
class OutputSettings:
    """The ``[output]`` settings section: the files a video run writes beside its output, named after it
    (``media.output.beside``); a path given for one of them on the command line wins.

    ``mask``: the paste-weight mask video, ``<output stem>.mask.mkv`` (lossless FFV1, grey).
    ``marked_copy``: a copy of the output with every enhanced region outlined, ``<output stem>.marked<ext>``.
    ``gallery``: the face gallery folder, ``<output stem>.faces``.
    """

    mask: bool = False
    marked_copy: bool = False
    gallery: bool = False


def input_checks(settings: InputSettings) -> list[tuple[bool, str]]:
    """(passes, what it requires) for each range and name check of ``settings``."""
    return [
        (settings.io_timeout > 0.0, "io timeout must be positive (seconds)"),
        (settings.hwaccel in HWACCELS, f"hwaccel must be one of {', '.join(HWACCELS)}, got '{settings.hwaccel}'"),
    ]


def encode_checks(settings: EncodeSettings) -> list[tuple[bool, str]]:
    """(passes, what it requires) for each range check of ``settings``."""
    return [
        (settings.crf is None or 0 <= settings.crf <= 63, "crf must be in [0, 63]"),
        (settings.bitrate is None or settings.bitrate > 0, f"bitrate must be positive (bits/s), got {settings.bitrate}"),
    ]
