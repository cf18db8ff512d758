"""The command's shared argparse parts: the parser that raises ``InputError``, the help formatter, the exit-code
epilog, and the pipeline options (flag -> settings field) that every enhancing command takes."""
from __future__ import annotations

import argparse
import dataclasses
import re
import textwrap
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import InputError

if TYPE_CHECKING:
    from ..config import Settings

EXIT_CODES = """exit codes:
  0    success
  1    internal error (set GPEN_VIDEO_DEBUG=1 for a traceback)
  2    bad input or usage: unreadable file, unknown option, bad config key
  3    model weights missing or unusable
  4    live mode: the source was lost and did not come back (the recording is kept)
  5    batch: some inputs failed or could not be read (the others are done)
  130  interrupted (SIGINT/SIGTERM); no output file is left behind (live mode keeps its recording)"""

# (flag, section, key, metavar, help). Defaults come from the Settings dataclasses (or the config preset a
# command starts from), so --help cannot drift.
TUNING_OPTIONS: list[tuple[str, str, str, str, str]] = [
    ("--model", "restore", "model", "NAME", "GPEN model from the registry (see `gpen-video weights list`)"),
    ("--weights", "restore", "weights", "FILE",
     "a local GPEN checkpoint (.pth, config read from the file) or ONNX graph (.onnx)"),
    ("--backend", "restore", "backend", "NAME", ("auto, torch, onnxruntime or tensorrt (auto: onnxruntime for .onnx "
                                                 "weights, the measured fastest on a CPU, else torch)")),
    ("--restorer", "restore", "restorer", "NAME", "gpen, or none to pass faces through unchanged (debugging)"),
    ("--device", "restore", "device", "NAME", "auto, cpu, cuda or cuda:N"),
    ("--batch-size", "restore", "batch_size", "N", "faces per GPEN batch, gathered across frames"),
    ("--detector", "faces", "detector", "NAME",
     "retinaface (embedded; retinaface-onnx or retinaface-torch to force its backend), facexlib-resnet50 or facexlib-mobile0.25"),
    ("--det-size", "faces", "det_size", "PX", "longest side of the copy the detector sees (0 = full resolution)"),
    ("--start-threshold", "faces", "start_threshold", "SCORE",
     "detector score a new face needs to start a track (GPEN's own cut-off: weaker hits are often hands or patterns)"),
    ("--keep-threshold", "faces", "keep_threshold", "SCORE",
     "lowest score that keeps a started track alive, so faces in poor light stay once found"),
    ("--confirm-frames", "faces", "confirm_frames", "N",
     "detector hits before a track is restored (the original pixels stay until then): no faces that flash in and out"),
    ("--confirm-score", "faces", "confirm_score", "SCORE", "one hit scoring this confirms a track at once (above 1: never)"),
    ("--verify-score", "faces", "verify_score", "SCORE",
     "a hit counts toward confirmation only if the detector finds the face again at this score on its aligned crop "
     "alone (0 = off): the back of a head or a hand scores like a face in a crowded frame, not alone"),
    ("--fade-frames", "faces", "fade_frames", "N",
     "restored faces fade in and out over this many frames instead of popping"),
    ("--yaw-full", "faces", "yaw_full", "DEG", "faces turned up to this many degrees are restored at full strength"),
    ("--yaw-zero", "faces", "yaw_zero", "DEG",
     "faces turned this many degrees or more are left as they are (GPEN invents profiles); linear in between"),
    ("--face-color", "faces", "color", "MODE",
     "restored faces' colour: auto (the input's in grey, sepia or infrared scenes), input, or restored"),
    ("--detect-every", "faces", "detect_every", "N", "run the detector every N frames; tracking fills the gaps"),
    ("--min-face", "faces", "min_face", "PX", "ignore faces smaller than this many pixels"),
    ("--max-faces", "faces", "max_faces", "N", "at most this many faces per frame, largest first (0 = all)"),
    ("--smooth", "faces", "smooth", "STRENGTH", "landmark smoothing strength (0 = off, above 1 steadier)"),
    ("--temporal", "faces", "temporal", "STRENGTH", "temporal blending strength in [0, 1] (0 = off)"),
    ("--alpha", "faces", "alpha", "WEIGHT", "weight of the restored face against the original, in [0, 1]"),
    ("--mask", "faces", "mask", "KIND",
     "paste-back mask: soft, or parsing (face parts only; downloads facexlib ParseNet)"),
    ("--redact", "redact", "mode", "WHO",
     "hide faces: off, others (every face but the restored tracks) or all; the whole head, from a few frames "
     "before a face is first found to a few after it is last found"),
    ("--redact-style", "redact", "style", "STYLE", "how hidden faces look: blur, pixelate or fill"),
    ("--upscale", "upscale", "scale", "N", "output size as a multiple of the input's, 1 to 4 (1 = same size)"),
    ("--bg-upsampler", "upscale", "bg_upsampler", "NAME",
     "how the frame is enlarged: lanczos, realesrgan-x2, realesrgan-x4, realesrnet-x2 or realesrnet-x4"),
    ("--bg-weights", "upscale", "bg_weights", "FILE", "a local super-resolution checkpoint for the background"),
    ("--tile", "upscale", "tile", "PX",
     "the background network runs on tiles of this many input pixels (0 = whole frames)"),
    ("--io-timeout", "input", "io_timeout", "SECONDS",
     "seconds a network source or camera may send nothing before it fails"),
    ("--hwaccel", "input", "hwaccel", "NAME",
     "none, or cuda to decode with NVDEC where there is one (else on the CPU, with a notice): frees CPU cores on GPU boxes"),
    ("--codec", "encode", "codec", "NAME",
     "video encoder: libx264, libx265, libvpx-vp9, libsvtav1, h264_nvenc, ..., or ffv1 (lossless)"),
    ("--crf", "encode", "crf", "N", "constant rate factor (lower is better quality)"),
    ("--preset", "encode", "preset", "NAME",
     "x264 encoder preset, ultrafast ... veryslow (mapped onto the other encoders' speed scales), or the encoder's "
     "own value such as p5 for NVENC; not a config preset (that is --config)"),
    ("--pix-fmt", "encode", "pix_fmt", "FORMAT", "output pixel format"),
    ("--bitrate", "encode", "bitrate", "BITS", "target bitrate in bits/s (replaces crf)"),
]
SWITCHES: list[tuple[str, str, str, bool, str]] = [
    ("--fp32", "restore", "fp32", True,
     "no reduced precision: GPEN and the background network run in fp32, never bf16/fp16 (reduced precision "
     "is the default on CUDA and, where it is faster, on CPUs with native bf16)"),
    ("--compile", "restore", "compile", True, "torch.compile the model"),
    ("--cuda-graphs", "restore", "cuda_graphs", True, "on CUDA, run GPEN as captured CUDA graphs"),
    ("--no-deinterlace", "input", "deinterlace", False, "keep interlaced input as it is"),
    ("--no-detail-transfer", "faces", "detail_transfer", False,
     "faces larger than the crop's scale lose the source's fine detail (for noisy or blocky sources)"),
]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs keep their lines (examples, tables) but wrap the ones wider than the terminal,
    continuing under a table row's second column (``  130  interrupted ...``) or the line's own indent."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            row = re.match(r"\s*\S+\s{2,}(?=\S)", line) or re.match(r"\s*", line)
            lines.append(textwrap.fill(line, width, initial_indent=indent,
                                       subsequent_indent=indent + " " * row.end()) if line else "")
        return "\n".join(lines)


class CommandParser(argparse.ArgumentParser):
    """argparse that raises a one-line ``InputError`` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see '{self.prog} --help')")


def _field_type(section: str, key: str) -> Any:
    from ..config import Settings

    hints = {f.name: f.type for f in dataclasses.fields(getattr(Settings(), section))}
    kind = str(hints[key])
    if "float" in kind:
        return float
    if "int" in kind:
        return int
    return str


def _encoder_preset(name: str) -> str:
    """``--preset``'s value: an encoder's speed preset, never one of the config presets it is confused with."""
    from ..config import preset_names

    if name in preset_names():
        raise argparse.ArgumentTypeError(f"'{name}' is a config preset, not an x264 preset: use --config {name}")
    return name


# Options whose values are checked as they are parsed, beyond their settings field's type.
OPTION_TYPES = {"--preset": _encoder_preset}


def add_tuning_options(parser: argparse.ArgumentParser, defaults: Settings, defaults_from: str | None = None) -> None:
    """The pipeline options, each showing the value of ``defaults`` (the settings the command starts from:
    the config preset ``defaults_from``, or the built-in defaults when None)."""
    from ..config import preset_names

    title = (f"pipeline options (the {defaults_from} config preset's values shown)" if defaults_from else
             "pipeline options (defaults shown; --config overrides them)")
    group = parser.add_argument_group(title)
    for flag, section, key, metavar, text in TUNING_OPTIONS:
        default = getattr(getattr(defaults, section), key)
        group.add_argument(flag, dest=f"{section}.{key}", type=OPTION_TYPES.get(flag, _field_type(section, key)),
                           default=None, metavar=metavar, help=f"{text} [default: {default}]")
    for flag, section, key, value, text in SWITCHES:
        group.add_argument(flag, dest=f"{section}.{key}", action="store_const", const=value, default=None, help=text)
    starts_from = f" instead of {defaults_from}" if defaults_from else ""
    parser.add_argument("--config", metavar="NAME|FILE",
                        help=f"a config preset{starts_from}: a name ({', '.join(preset_names())}) or a TOML file")


def command_line_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The options given on the command line, as ``{section: {key: value}}``."""
    result: dict[str, dict[str, Any]] = {}
    for dest, value in vars(args).items():
        if "." in dest and value is not None:
            section, key = dest.split(".", 1)
            result.setdefault(section, {})[key] = value
    return result
