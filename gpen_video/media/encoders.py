"""Encoder choice and options: one EncodeSettings mapped onto each supported encoder's own knobs."""
from __future__ import annotations

import functools
import logging
import os
from fractions import Fraction

import av

from ..errors import InputError
from .settings import EncodeSettings

log = logging.getLogger(__name__)

SUPPORTED = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1", "h264_nvenc", "hevc_nvenc", "ffv1")
LOSSLESS = ("ffv1",)  # encoders that keep every pixel value: crf, preset and bitrate do not apply
# Where the asked encoder is missing (not built, or no GPU for NVENC), use this one and say so.
FALLBACK = {"h264_nvenc": "libx264", "hevc_nvenc": "libx265", "libaom-av1": "libsvtav1", "libsvtav1": "libaom-av1"}
_X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# x264 preset names mapped onto the speed scales of the other encoders (same order as _X264_PRESETS).
_SPEED_SCALES = {
    "h264_nvenc": ("p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7"),
    "libsvtav1": ("13", "12", "11", "10", "9", "8", "6", "4", "2"),
    "libaom-av1": ("8", "8", "7", "6", "5", "4", "3", "2", "1"),
    "libvpx-vp9": ("8", "7", "6", "5", "4", "2", "1", "0", "0"),
}
_SPEED_SCALES["hevc_nvenc"] = _SPEED_SCALES["h264_nvenc"]


@functools.cache  # opening an NVENC session is slow; batch builds a writer per segment
def _usable(name: str) -> bool:
    """The encoder is built in and, for hardware encoders, opens on this machine."""
    try:
        codec = av.codec.Codec(name, "w")
    except (av.FFmpegError, ValueError):
        return False
    if not name.endswith("_nvenc"):
        return True
    ctx = av.codec.CodecContext.create(codec)
    ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
    ctx.time_base = Fraction(1, 25)
    try:
        ctx.open()
    except av.FFmpegError:
        return False
    return True


def resolve_codec(name: str) -> tuple[str, str | None]:
    """(encoder to use, notice or None). Raises InputError for an unknown or unavailable encoder."""
    if name not in SUPPORTED:
        raise InputError(f"unsupported video codec {name!r}; choose one of {', '.join(SUPPORTED)}")
    if _usable(name):
        return name, None
    fallback = FALLBACK.get(name)
    if fallback and _usable(fallback):
        return fallback, f"encoder {name} is not available here; using {fallback}"
    raise InputError(f"encoder {name} is not available in this FFmpeg build")


def is_lossless(settings: EncodeSettings) -> bool:
    """Whether the encoder keeps the planes it is given exactly: a ``LOSSLESS`` codec, or x264 at crf 0
    with no bitrate."""
    codec = settings.codec
    return codec in LOSSLESS or (codec == "libx264" and settings.crf == 0 and settings.bitrate is None)


def encoder_options(codec: str, settings: EncodeSettings) -> tuple[dict[str, str], int | None, list[str]]:
    """(AVOptions for the encoder, bit_rate or None, notices) for ``settings`` on ``codec``.

    x265 and SVT-AV1 print banners and statistics from their own code straight to stderr, past
    FFmpeg's logging (which stays off): they are told to print errors only. SVT-AV1 takes that from
    the ``SVT_LOG`` environment variable, read when its first encoder opens in the process; a value
    the user set is left as it is.
    """
    options: dict[str, str] = {}
    notices: list[str] = []
    if codec in LOSSLESS:
        return {"level": "3", "slicecrc": "1"}, None, notices  # FFV1 version 3: per-slice checksums
    if codec == "libx265":
        options["x265-params"] = "log-level=error"
    if codec == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # 1: errors only
    preset = settings.preset
    if preset is not None:
        speed_key = {"libaom-av1": "cpu-used", "libvpx-vp9": "cpu-used"}.get(codec, "preset")
        if codec in ("libx264", "libx265"):
            if preset not in _X264_PRESETS:  # e.g. an NVENC "p5" after falling back to libx264
                notices.append(f"preset {preset!r} is not a {codec} preset; using 'medium'")
                preset = "medium"
            options["preset"] = preset
        elif preset in _X264_PRESETS:
            options[speed_key] = _SPEED_SCALES[codec][_X264_PRESETS.index(preset)]
        else:  # the encoder's own value, e.g. "p5" for NVENC or "6" for SVT-AV1
            options[speed_key] = preset
    if codec == "libvpx-vp9":
        options.update({"deadline": "good", "row-mt": "1"})
    if codec == "libaom-av1":
        options["row-mt"] = "1"
    if settings.bitrate is not None:
        if settings.crf is not None:
            notices.append("bitrate given: constant quality (crf) is not used")
        return options, int(settings.bitrate), notices
    if settings.crf is not None:
        if codec.endswith("_nvenc"):
            options.update({"rc": "vbr", "cq": str(settings.crf)})
        else:
            options["crf"] = str(settings.crf)
        # Constant quality on these encoders needs the target bitrate cleared.
        if codec in ("libvpx-vp9", "libaom-av1") or codec.endswith("_nvenc"):
            return options, 0, notices
    return options, None, notices


def check_pix_fmt(codec: str, pix_fmt: str) -> None:
    """Raise InputError when ``codec`` cannot encode ``pix_fmt``."""
    formats = av.codec.Codec(codec, "w").video_formats or ()
    names = {f.name for f in formats}
    if names and pix_fmt not in names:
        raise InputError(f"{codec} cannot encode pix_fmt {pix_fmt}; it takes {', '.join(sorted(names))}")
