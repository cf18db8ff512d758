"""The ``gpen-video`` command.

    gpen-video INPUT [OUTPUT] [options]       enhance a video, URL or image
    gpen-video live --source SRC [options]    enhance a webcam or stream in real time
    gpen-video weights list|download|path     manage model weights
    gpen-video batch INPUTS... --out-dir DIR  many videos, long videos split on keyframes, local or Ray
    gpen-video export NAME -o FILE.onnx       export a GPEN model to ONNX
    gpen-video doctor [--remeasure]           what is installed, which device and backend would run, the caches

Exit codes: 0 ok, 1 internal error, 2 bad input or usage, 3 missing weights, 4 live source lost,
5 some batch inputs failed, 130 interrupted.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ._version import __version__
from .errors import (
    DestinationExists,
    GpenVideoError,
    InputError,
    InputMissing,
    Interrupted,
    InvalidOption,
    MissingExtra,
    NoDisplayError,
    SourceLost,
    SourceTimeout,
    WeightsError,
    WeightsMissing,
)
from .media import signals
from .media.output import check_destination, discard_unfinished
from .runtime.library_warnings import hide_library_warnings

# Only light modules above: ``main`` installs the signal policy, and settings and destinations are checked,
# before rich, PyAV, OpenCV or torch load (each command imports what it needs once its arguments are good).
if TYPE_CHECKING:
    from rich.console import Console

    from .config import Settings
    from .faces.select import TrackSelection

# How a process ends: the first row whose error type matches decides (docs/exit-codes.md).
EXIT_CODES_BY_ERROR: tuple[tuple[type[GpenVideoError], int], ...] = (
    (Interrupted, signals.EXIT_INTERRUPTED),
    (SourceLost, 4),
    (WeightsError, 3),
    (InputError, 2),
    (GpenVideoError, 1),
)
EXIT_SOME_FAILED = 5  # a batch where some inputs failed


def exit_code_for(error: GpenVideoError) -> int:
    """The exit code of a process ended by ``error``."""
    return next(code for kind, code in EXIT_CODES_BY_ERROR if isinstance(error, kind))


ENHANCE_EXAMPLES = """examples:
  gpen-video in.mp4 out.mp4                    # every face, with GPEN-BFR-512
  gpen-video film.mp4 out.mp4 --config film    # old film: 2x size, x264 slow
  gpen-video cctv.mp4 out.mp4 --config surveillance --faces-out faces/
  gpen-video group.png out.png --upscale 2 --compare"""

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
    ("--codec", "encode", "codec", "NAME", "video encoder: libx264, libx265, libvpx-vp9, libsvtav1, h264_nvenc, ..."),
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


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs keep their lines (examples, tables) but wrap the ones wider than the terminal,
    continuing under a table row's second column (``  130  interrupted ...``) or the line's own indent."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            row = re.match(r"\s*\S+\s{2,}(?=\S)", line) or re.match(r"\s*", line)
            lines.append(textwrap.fill(line, width, initial_indent=indent,
                                       subsequent_indent=indent + " " * row.end()) if line else "")
        return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse that raises a one-line ``InputError`` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see '{self.prog} --help')")


def _field_type(section: str, key: str) -> Any:
    from .config import Settings

    hints = {f.name: f.type for f in dataclasses.fields(getattr(Settings(), section))}
    kind = str(hints[key])
    if "float" in kind:
        return float
    if "int" in kind:
        return int
    return str


def _encoder_preset(name: str) -> str:
    """``--preset``'s value: an encoder's speed preset, never one of the config presets it is confused with."""
    from .config import preset_names

    if name in preset_names():
        raise argparse.ArgumentTypeError(f"'{name}' is a config preset, not an x264 preset: use --config {name}")
    return name


# Options whose values are checked as they are parsed, beyond their settings field's type.
OPTION_TYPES = {"--preset": _encoder_preset}


def _add_tuning_options(parser: argparse.ArgumentParser, defaults: Settings, defaults_from: str | None = None) -> None:
    """The pipeline options, each showing the value of ``defaults`` (the settings the command starts from:
    the config preset ``defaults_from``, or the built-in defaults when None)."""
    from .config import preset_names

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


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The options given on the command line, as ``{section: {key: value}}``."""
    result: dict[str, dict[str, Any]] = {}
    for dest, value in vars(args).items():
        if "." in dest and value is not None:
            section, key = dest.split(".", 1)
            result.setdefault(section, {})[key] = value
    return result


def _enhance_parser() -> _Parser:
    parser = _Parser(
        prog="gpen-video",
        description="Enhance the faces in a video, stream or image with GPEN.",
        epilog=ENHANCE_EXAMPLES + "\n\n" + EXIT_CODES + "\n\nother commands:\n  gpen-video live --help\n  gpen-video weights --help\n"
               "  gpen-video batch --help\n  gpen-video export --help\n  gpen-video doctor --help",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("input", nargs="?", help="video file, URL or image")
    parser.add_argument("output", nargs="?", help="output file [default: output_<name> beside the input]")
    parser.add_argument("-i", "--input", dest="input_opt", metavar="SRC", help="same as the input argument")
    parser.add_argument("-o", "--output", dest="output_opt", metavar="FILE", help="same as the output argument")
    job = parser.add_argument_group("job options")
    job.add_argument("--start", type=float, metavar="SECONDS", help="start at this time (audio is trimmed to match)")
    job.add_argument("--end", type=float, metavar="SECONDS", help="stop before this time: frames from --start up to, not including, --end")
    job.add_argument("--compare", action="store_true", help="write the original and the enhanced video side by side")
    job.add_argument("--report", metavar="FILE.json",
                     help="write a JSON report of the run: counts, timings, metrics, every setting, versions, "
                          "and the sha256 of the input and the weights")
    job.add_argument("--report-faces", action="store_true",
                     help="add every face of every frame to the report (box, score, track, yaw, strength); "
                          "off by default because it grows with the video")
    job.add_argument("--faces-out", metavar="DIR",
                     help="write a face gallery for review into DIR: each enhanced track's best moment as original "
                          "and restored PNGs, index.json, index.csv and an index.html contact sheet")
    job.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output file (and gallery)")
    select = parser.add_argument_group("choosing faces (track ids from a --faces-out gallery of the same input)")
    select.add_argument("--tracks", metavar="IDS", help="restore only these tracks, e.g. 3,7 (the others keep their pixels)")
    select.add_argument("--exclude-tracks", metavar="IDS", help="restore every track but these")
    select.add_argument("--tracks-from", metavar="DIR/index.json",
                        help="restore the tracks of this gallery; refused when the gallery was made from another "
                             "input or with other tracking settings")
    select.add_argument("--pick", metavar="IDS", help="with --tracks-from: only these of the gallery's tracks")
    job.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    job.add_argument("--version", action="version", version=f"gpen-video {__version__}")
    from .config import Settings

    _add_tuning_options(parser, Settings())
    return parser


def _run_enhance(argv: Sequence[str], console: Console) -> int:
    args = _enhance_parser().parse_args(argv)
    source = args.input_opt or args.input
    output = args.output_opt or args.output
    if args.input_opt and args.input and not args.output_opt and not args.output:
        output = args.input  # `gpen-video -i in.mp4 out.mp4`
    if not source:
        raise InputError("no input given (see 'gpen-video --help')")
    from .media.source import source_exists

    if not source_exists(source):
        raise InputMissing(f"input not found: {source}")
    if args.start is not None and args.end is not None and args.end <= args.start:
        raise InputError("--end must be after --start")
    from .config import build_settings

    settings = build_settings(args.config, _overrides(args))
    if args.report_faces and not args.report:
        raise InputError("--report-faces needs --report PATH.json")
    selection = _track_selection(args, source, settings)
    from .media.output import default_output, write_json_atomic

    output = output or str(default_output(source))
    _check_destinations(args, source, output, settings)  # before the heavy imports and any work
    from .job import enhance_image, enhance_video  # heavy imports only once the arguments are good
    from .media.image import is_image_path
    from .review.console import ProgressView, print_summary
    from .review.report import build_report

    measure_quality = bool(args.report) or not args.quiet  # the report and the summary show it
    if is_image_path(source):
        if args.start is not None or args.end is not None:
            raise InputError("--start/--end apply to videos only")
        result = enhance_image(source, output, settings, compare=args.compare, overwrite=args.overwrite,
                               measure_quality=measure_quality, faces_out=args.faces_out,
                               record_faces=args.report_faces, selection=selection)
    else:
        with ProgressView(console, quiet=args.quiet) as progress:
            result = enhance_video(
                source, output, settings, start=args.start, end=args.end, compare=args.compare,
                overwrite=args.overwrite, progress=progress.update, keep_frames=bool(args.report),
                measure_quality=measure_quality, faces_out=args.faces_out, record_faces=args.report_faces,
                selection=selection,
            )
    if args.report:
        write_json_atomic(args.report, build_report(result), overwrite=args.overwrite)
    if not args.quiet:
        print_summary(console, result)
    return 0


def _track_selection(args: argparse.Namespace, source: str, settings: Settings) -> TrackSelection:
    """The tracks to restore from --tracks, --exclude-tracks, --tracks-from and --pick, checked before any work."""
    from .faces.fingerprint import run_fingerprint
    from .faces.select import TrackSelection, parse_track_ids, selection_from_gallery

    if args.tracks and args.tracks_from:
        raise InputError("give --tracks or --tracks-from, not both")
    if args.pick and not args.tracks_from:
        raise InputError("--pick needs --tracks-from DIR/index.json")
    only = parse_track_ids(args.tracks) if args.tracks else None
    if args.tracks_from:
        pick = parse_track_ids(args.pick) if args.pick else None
        only = selection_from_gallery(args.tracks_from, run_fingerprint(source, settings.faces, args.start, args.end),
                                      pick)
    excluded = parse_track_ids(args.exclude_tracks) if args.exclude_tracks else frozenset()
    return TrackSelection(only, excluded)


def _check_destinations(args: argparse.Namespace, source: str, output: str, settings: Settings) -> None:
    """The output, the report and the gallery folder against the one destination policy
    (``media.output``): never a device, pipe or socket, never a file the run reads or another of its
    outputs, nothing replaced without -y."""
    from .media.output import check_destination, check_folder_destination, same_file
    from .media.source import local_file

    read = [*settings.files_read(), *([args.config] if args.config and os.path.exists(args.config) else [])]
    check_destination(output, source=source, inputs=read, overwrite=args.overwrite)
    if args.report:
        check_destination(args.report, source=source, inputs=read, overwrite=args.overwrite)
        if same_file(args.report, output):
            raise InputError("--report must be a different file from the output")
    if args.faces_out:
        if any(same_file(args.faces_out, path) for path in (output, args.report) if path):
            raise InputError("--faces-out must be a folder of its own, not the output or the report")
        check_folder_destination(args.faces_out, inputs=[local_file(source), output, args.report, *read],
                                 overwrite=args.overwrite)


def _run_weights(argv: Sequence[str], console: Console) -> int:
    from .models import weights

    parser = _Parser(prog="gpen-video weights", description="List, download and locate model weights.",
                     epilog=f"cache folder: $GPEN_VIDEO_HOME (now {weights.cache_dir()})")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="known models and whether they are cached")
    download = commands.add_parser("download", help="download a model into the cache")
    download.add_argument("name")
    path = commands.add_parser("path", help="print where a model's file lives in the cache")
    path.add_argument("name")
    args = parser.parse_args(argv)

    if args.command == "list":
        from rich.table import Table

        table = Table(title=f"models (cache: {weights.cache_dir()})")
        for column in ("name", "kind", "size", "cached", "path"):
            table.add_column(column)
        for row in weights.list_models():
            table.add_row(row["name"], row["kind"], str(row.get("size") or ""),
                          "yes" if row["present"] else "no", str(row["path"]))
        console.print(table)
    elif args.command == "download":
        console.print(f"saved {weights.download_weights(args.name)}")
    else:
        print(weights.weights_path(args.name))
    return 0


EXPORT_EXAMPLES = """examples:
  gpen-video export GPEN-BFR-512           # into the cache, for onnxruntime
  gpen-video export --weights mine.pth -o mine.onnx --fp16"""


def _run_export(argv: Sequence[str], console: Console) -> int:
    from .config import Settings
    from .models import weights

    parser = _Parser(prog="gpen-video export",
                     description="Export a GPEN model to ONNX: one input and one output [N, 3, S, S], RGB in [-1, 1]. "
                                 "Needs the onnx extra: pip install 'gpen-video[onnx]'.",
                     epilog=EXPORT_EXAMPLES + "\n\n" + EXIT_CODES, formatter_class=_HelpFormatter)
    parser.add_argument("name", nargs="?", default=Settings().restore.model,
                        help="registry model (see `gpen-video weights list`) [default: %(default)s]")
    parser.add_argument("--weights", metavar="FILE", help="export this GPEN checkpoint instead of a registry model")
    parser.add_argument("--format", choices=["onnx"], default="onnx", help="output format [default: onnx]")
    parser.add_argument("-o", "--output", metavar="FILE.onnx",
                        help="where to write it [default: the cache, beside the .pth, where ONNX backends find it; "
                             "always with a dynamic batch]")
    parser.add_argument("--dynamic-batch", action="store_true", help="let the batch dimension N vary (default: N = 1)")
    parser.add_argument("--fp16", action="store_true", help="fp16 weights and activations (float32 input and output)")
    parser.add_argument("--opset", type=int, metavar="N", help="ONNX opset [default: the exporter's]")
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)
    from .models.onnx import export_checkpoint

    output = args.output
    if output is None:
        if args.weights is not None:
            raise InputError("give -o FILE.onnx when exporting --weights")
        output = weights.onnx_export_path(args.name, weights.weights_path(args.name))
        output.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = export_checkpoint(args.name, args.weights, output,
                                 dynamic_batch=args.dynamic_batch or args.output is None, fp16=args.fp16,
                                 opset=args.opset, overwrite=args.overwrite)
    except InvalidOption as exc:  # the opset is the only option the exporter ranges
        raise InputError(f"--opset must be {exc.requirement}, got {exc.value}") from None
    batch = "N" if done.dynamic_batch else "1"
    console.print(f"saved {done.path} ({done.name}, input [{batch}, 3, {done.size}, {done.size}], {done.precision}, "
                  f"opset {done.opset})", markup=False, highlight=False, soft_wrap=True)
    return 0


LIVE_CONFIG = "webcam"  # the config preset live mode starts from unless --config names another

LIVE_EXAMPLES = """examples:
  gpen-video live --source 0                   # the first webcam, in a window
  gpen-video live --source rtsp://cam.local/stream --no-window -o watch.mp4"""

LIVE_EXIT_CODES = """keys (in the window, or in the terminal when headless):
  e  enhancement on/off    s  side by side    ] [  temporal blending up/down
  i  fps and latency        h  these keys      q Esc  quit

exit codes:
  0    the source ended (a file), or q/Esc/window closed; the recording is finalised
  1    internal error (set GPEN_VIDEO_DEBUG=1 for a traceback)
  2    bad input or usage, or the source never opened
  3    model weights missing or unusable
  4    the source was lost and did not come back within --reconnect-seconds; recording kept
  130  SIGINT/SIGTERM; the recording so far is finalised and kept"""


def _live_parser() -> _Parser:
    from .config import build_settings

    settings = build_settings(LIVE_CONFIG)
    defaults = settings.live
    parser = _Parser(
        prog="gpen-video live",
        description="Enhance a webcam, network stream or real-time-paced video file with bounded latency. "
                    f"Starts from the {LIVE_CONFIG} config preset unless --config names another.",
        epilog=LIVE_EXAMPLES + "\n\n" + LIVE_EXIT_CODES,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--source", required=True, metavar="SRC",
                        help="webcam index (0) or /dev/videoN, rtsp/http/udp URL, or a video file played in real time")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="record the output stream to FILE (with the audio of a file or http(s) source)")
    live = parser.add_argument_group("live options")
    live.add_argument("--no-window", dest="live.window", action="store_const", const=False, default=None,
                      help="run headless (no OpenCV window)")
    live.add_argument("--reconnect-seconds", dest="live.reconnect_seconds", type=float, default=None,
                      metavar="SECONDS",
                      help=f"keep reopening a lost source this long [default: {defaults.reconnect_seconds}]")
    live.add_argument("--max-in-flight", dest="live.max_in_flight", type=int, default=None, metavar="N",
                      help=f"frames inside the engine at once; more overlaps stages, fewer cut latency "
                           f"[default: {defaults.max_in_flight}]")
    live.add_argument("--virtual-cam", dest="live.virtual_cam", action="store_const", const=True, default=None,
                      help="publish the output as a virtual camera for video calls (pyvirtualcam: v4l2loopback "
                           "on Linux, OBS's virtual camera on Windows and macOS)")
    live.add_argument("--cam-size", metavar="WxH", type=_size, help="virtual camera size [default: the source's]")
    live.add_argument("--cam-fps", dest="live.cam_fps", type=float, default=None, metavar="FPS",
                      help="virtual camera rate; the last frame is repeated when the engine is slower "
                           "[default: the source's]")
    live.add_argument("--cam-device", dest="live.cam_device", default=None, metavar="PATH",
                      help="the loopback device to use, e.g. /dev/video10 [default: the first free one]")
    live.add_argument("--report", metavar="FILE.json", help="write a JSON report of the run (latency, camera, keys)")
    live.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output file")
    live.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    _add_tuning_options(parser, settings, defaults_from=LIVE_CONFIG)
    return parser


def _size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> (1280, 720)."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1280x720, got {text!r}")
    return int(width), int(height)


BATCH_EXAMPLES = """examples:
  gpen-video batch videos/ long.mp4 --out-dir out/    # again to resume
  gpen-video batch videos/ --out-dir /nfs/out --ray auto"""


def _batch_parser() -> _Parser:
    parser = _Parser(
        prog="gpen-video batch",
        description="Enhance many videos, or long ones split at keyframes, with local worker processes or "
                    "on a Ray cluster. Re-running the same command resumes an interrupted batch.",
        epilog=BATCH_EXAMPLES + "\n\n" + EXIT_CODES, formatter_class=_HelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders (searched recursively) or globs")
    job = parser.add_argument_group("batch options")
    job.add_argument("--out-dir", required=True, metavar="DIR", help="folder for the outputs and the job manifest")
    job.add_argument("--ray", metavar="auto|local|ADDRESS",
                     help="run units as Ray tasks: auto (existing cluster), local (start one here) or an address "
                          "[default: local worker processes]")
    job.add_argument("--workers", type=int, metavar="N",
                     help="units at once; workers share GPUs round-robin [default: 1 without a GPU; with GPUs one "
                          "per 4 cores, 1-4 per GPU, so x264 gets every core; on Ray, every GPU or CPU slot]")
    job.add_argument("--segment-seconds", type=float, default=300.0, metavar="SECONDS",
                     help="split videos longer than this at keyframes into segments about this long [default: 300]")
    job.add_argument("--warmup", type=int, default=16, metavar="N",
                     help="frames decoded before each segment to carry tracking and blending over [default: 16]")
    job.add_argument("--retries", type=int, default=2, metavar="N", help="extra attempts for a failed unit [default: 2]")
    job.add_argument("--faces-out", metavar="DIR",
                     help="write a face gallery per input into DIR/<input key>/ (segments merged) and DIR/index.html "
                          "linking them")
    job.add_argument("-y", "--overwrite", action="store_true", help="replace outputs this batch did not write itself")
    job.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    from .config import Settings

    _add_tuning_options(parser, Settings())
    return parser


def _run_live(argv: Sequence[str], console: Console) -> int:
    args = _live_parser().parse_args(argv)
    from .config import build_settings
    from .media.output import same_file
    from .media.source import parse_source

    source = parse_source(args.source)
    overrides = _overrides(args)
    if args.cam_size:
        overrides.setdefault("live", {}).update(cam_width=args.cam_size[0], cam_height=args.cam_size[1])
    settings = build_settings(args.config or LIVE_CONFIG, overrides)
    if args.output:
        check_destination(args.output, source=None if isinstance(source, int) else source,
                          inputs=settings.files_read(), overwrite=args.overwrite)
    if args.report:
        check_destination(args.report, source=None if isinstance(source, int) else source,
                          inputs=settings.files_read(), overwrite=args.overwrite)
        if args.output and same_file(args.report, args.output):
            raise InputError("--report must be a different file from the output")
    from .live.loop import run_live  # heavy imports only once the arguments are good
    from .media.output import write_json_atomic
    from .review.console import print_live_summary
    from .review.report import build_live_report
    from .live.terminal_keys import StdinKeys

    if settings.upscale.scale > 1 and not args.quiet:
        from .live.loop import upscale_notice

        console.print(f"gpen-video: note: {upscale_notice(settings.upscale.scale)}", markup=False, highlight=False,
                      soft_wrap=True)
    status = None if args.quiet or settings.live.window else console.status("live: starting (h for keys)")

    def say(line: str) -> None:
        console.print(f"live: {line}", markup=False, highlight=False, soft_wrap=True)

    if status is not None:
        status.start()
    keys = StdinKeys(sys.stdin) if sys.stdin is not None else None
    try:
        result = run_live(source, settings, output=args.output, overwrite=args.overwrite, keys=keys, message=say,
                          progress=None if status is None else lambda p: status.update("live: " + p.detail))
    finally:
        if keys is not None:
            keys.close()
        if status is not None:
            status.stop()
    if args.report:
        write_json_atomic(args.report, build_live_report(result), overwrite=args.overwrite)
    if not args.quiet:
        print_live_summary(console, result)
    kept = f"; recording kept: {result.output}" if result.output else ""
    if result.stopped == "lost":
        reason = result.losses[-1] if result.losses else "no frames"
        raise SourceLost(f"lost the source {args.source} ({reason}); gave up after "
                         f"{settings.live.reconnect_seconds:g} s and {result.attempts} reconnect attempt(s){kept}")
    if result.stopped == "signal":
        console.print(f"gpen-video: interrupted{kept}", markup=False, highlight=False)
        return signals.EXIT_INTERRUPTED
    return 0


def _run_batch(argv: Sequence[str], console: Console) -> int:
    args = _batch_parser().parse_args(argv)
    try:
        return _batch(args, console)
    except InvalidOption as exc:  # argparse made each dest from its flag: "--segment-seconds" -> segment_seconds
        raise InputError(f"--{exc.option.replace('_', '-')} must be {exc.requirement}") from None
    except MissingExtra as exc:  # Ray is the batch's only optional dependency
        raise InputError(f"--ray needs {exc.package}: {exc.install_command}") from None


def _batch(args: argparse.Namespace, console: Console) -> int:
    from .config import build_settings

    settings = build_settings(args.config, _overrides(args))
    from .batch import BatchOptions, import_ray, run_batch  # heavy imports only once the settings are good

    if args.ray is not None:
        import_ray()  # exit 2 with the install hint before any work
    options = BatchOptions(out_dir=args.out_dir, ray=args.ray, workers=args.workers, segment_seconds=args.segment_seconds,
                           warmup=args.warmup, retries=args.retries, overwrite=args.overwrite,
                           faces_out=args.faces_out)
    from .review.console import BatchProgressView, print_batch_summary

    try:
        with BatchProgressView(console, quiet=args.quiet) as progress:
            result = run_batch(args.inputs, settings, options, progress=progress)
    except (KeyboardInterrupt, Interrupted):
        console.print(f"gpen-video: interrupted; finished outputs are kept in {args.out_dir}: run the same command "
                      "again to resume", markup=False, highlight=False, soft_wrap=True)
        return signals.EXIT_INTERRUPTED
    if not args.quiet:
        print_batch_summary(console, result)
    for record in result.failed:
        console.print(f"gpen-video: failed: {record.source}: {record.error}", markup=False, highlight=False,
                      soft_wrap=True)
    return EXIT_SOME_FAILED if result.failed else 0


def _print_error(console: Console, exc: GpenVideoError) -> int:
    """Print ``exc`` as one line, with what the user can do about it; returns its exit code."""
    console.print(f"gpen-video: error: {error_line(exc)}", markup=False, highlight=False, soft_wrap=True)
    return exit_code_for(exc)


def _run_doctor(argv: Sequence[str], console: Console) -> int:
    parser = _Parser(prog="gpen-video doctor",
                     description="Show what is installed, which device and GPEN backend a run would use and why, "
                                 "and where the caches are.")
    parser.add_argument("--remeasure", action="store_true",
                        help="time the GPEN backends on this CPU again (10-30 s) and cache the result for this "
                             "environment")
    args = parser.parse_args(argv)
    from .runtime.doctor import diagnose

    diagnosis = diagnose(remeasure=args.remeasure)
    print("\n".join(diagnosis.lines()))
    if diagnosis.device == "cpu" and diagnosis.choice is None:
        print("  to measure now: gpen-video doctor --remeasure")
    return 0


SUBCOMMANDS = {"weights": _run_weights, "live": _run_live, "batch": _run_batch, "export": _run_export,
               "doctor": _run_doctor}


def hint_for(error: GpenVideoError) -> str | None:
    """What to type to get past ``error``: library errors describe the problem, never the options."""
    if isinstance(error, DestinationExists):
        return "use -y to overwrite it"
    if isinstance(error, NoDisplayError):
        return "use --no-window"
    if isinstance(error, SourceTimeout):
        return "raise --io-timeout for a slow source"
    if isinstance(error, WeightsMissing) and error.reason is None and error.name:
        return f"or run `gpen-video weights download {error.name}`"  # not downloaded: it was not asked to be
    if isinstance(error, WeightsError) and error.registry_kind == "gpen":
        return "or pass --weights PATH"  # a GPEN checkpoint can be given by path instead
    if isinstance(error, WeightsError) and error.registry_kind == "upsampler":
        return "or pass --bg-weights PATH, or use --bg-upsampler lanczos"
    return None


def error_line(error: GpenVideoError) -> str:
    """The one line printed for ``error``: its message, then the command-line hint when there is one."""
    hint = hint_for(error)
    return f"{error}; {hint}" if hint else str(error)


def main(argv: Sequence[str] | None = None) -> int:
    """The command (``gpen_video.__main__`` runs it); returns the process exit code.

    The signal policy (``media.signals``) comes first, before the slow imports, then the signals that
    the entry point held are let through. Without ``argv`` this process is the command and the policy
    stays until it exits; with ``argv`` (a call from Python) the caller's handlers come back afterwards.
    """
    with signals.installed(restore=argv is not None, exit_message="gpen-video: interrupted; stopped at once"):
        try:
            return _command(list(sys.argv[1:] if argv is None else argv))
        finally:
            discard_unfinished()  # what an interrupted clean-up could not remove


def _command(argv: list[str]) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    hide_library_warnings()
    try:
        signals.release_held()  # a signal that came during the start-up is raised here, as Interrupted
        if argv and argv[0] in SUBCOMMANDS:
            return SUBCOMMANDS[argv[0]](argv[1:], console)
        return _run_enhance(argv, console)
    except (KeyboardInterrupt, Interrupted):
        console.print("gpen-video: interrupted; no output was written")
        return signals.EXIT_INTERRUPTED
    except GpenVideoError as exc:
        return _print_error(console, exc)
    except Exception as exc:  # noqa: BLE001 - one line for users, the traceback on request
        if os.environ.get("GPEN_VIDEO_DEBUG"):
            raise
        console.print(f"gpen-video: internal error: {type(exc).__name__}: {exc}", markup=False,
                      highlight=False, soft_wrap=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
