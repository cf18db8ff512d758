"""``gpen-video INPUT [OUTPUT]``: enhance a video, URL or image."""
from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._version import __version__
from ..errors import InputError, InputMissing
from .parsers import EXIT_CODES, CommandParser, HelpFormatter, add_tuning_options, command_line_overrides

if TYPE_CHECKING:
    from rich.console import Console

    from ..config import Settings
    from ..faces.select import TrackSelection
    from ..review.credentials import SigningKey

ENHANCE_EXAMPLES = """examples:
  gpen-video in.mp4 out.mp4                    # every face, with GPEN-BFR-512
  gpen-video film.mp4 out.mp4 --config film    # old film: 2x size, x264 slow
  gpen-video cctv.mp4 out.mp4 --config surveillance --faces-out faces/
  gpen-video group.png out.png --upscale 2 --compare"""


def enhance_parser() -> CommandParser:
    parser = CommandParser(
        prog="gpen-video",
        description="Enhance the faces in a video, stream or image with GPEN.",
        epilog=ENHANCE_EXAMPLES + "\n\n" + EXIT_CODES + "\n\nother commands:\n  gpen-video live --help\n  gpen-video weights --help\n"
               "  gpen-video batch --help\n  gpen-video export --help\n  gpen-video doctor --help\n"
               "  gpen-video verify --help",
        formatter_class=HelpFormatter,
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
    job.add_argument("--audit", metavar="FILE.jsonl",
                     help="write a tamper-evident audit log: versions, settings and hashes, then every frame's input "
                          "and output hashes and faces (box, landmarks, strength, why not restored), each line "
                          "chained to the one before; check it with `gpen-video verify`")
    job.add_argument("--sign", nargs=2, metavar=("CERT.pem", "KEY.pem"),
                     help="embed signed Content Credentials (C2PA) in an MP4, MOV, JPEG or PNG output: the input, "
                          "the model and the audit log's hash, signed with this certificate chain and ES256 key "
                          "(needs the c2pa extra)")
    job.add_argument("--mask-out", metavar="FILE.mkv",
                     help="write what changed: a lossless grey video (FFV1) with the output's frames and timestamps, "
                          "each pixel the weight (0-255) the faces were pasted with; where it is 0, a lossless output "
                          "(--codec ffv1, or --crf 0) is the decoded input bit for bit")
    job.add_argument("--mark", action="store_true",
                     help="outline every enhanced region (the 50%% contour of its paste weight) and write its track "
                          "id, on the output itself")
    job.add_argument("--mark-out", metavar="FILE",
                     help="write the marks on a copy of the output in FILE instead, leaving the output unmarked")
    job.add_argument("-y", "--overwrite", action="store_true",
                     help="replace an existing output file (and gallery, mask, marked copy, audit log)")
    select = parser.add_argument_group("choosing faces (track ids from a --faces-out gallery of the same input)")
    select.add_argument("--tracks", metavar="IDS", help="restore only these tracks, e.g. 3,7 (the others keep their pixels)")
    select.add_argument("--exclude-tracks", metavar="IDS", help="restore every track but these")
    select.add_argument("--tracks-from", metavar="DIR/index.json",
                        help="restore the tracks of this gallery; refused when the gallery was made from another "
                             "input or with other tracking settings")
    select.add_argument("--pick", metavar="IDS", help="with --tracks-from: only these of the gallery's tracks")
    job.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    job.add_argument("--version", action="version", version=f"gpen-video {__version__}")
    from ..config import Settings

    add_tuning_options(parser, Settings())
    return parser


def enhance_command(argv: Sequence[str], console: Console) -> int:
    args = enhance_parser().parse_args(argv)
    source = args.input_opt or args.input
    output = args.output_opt or args.output
    if args.input_opt and args.input and not args.output_opt and not args.output:
        output = args.input  # `gpen-video -i in.mp4 out.mp4`
    if not source:
        raise InputError("no input given (see 'gpen-video --help')")
    from ..media.source import source_exists

    if not source_exists(source):
        raise InputMissing(f"input not found: {source}")
    if args.start is not None and args.end is not None and args.end <= args.start:
        raise InputError("--end must be after --start")
    from ..config import build_settings

    settings = build_settings(args.config, command_line_overrides(args))
    if args.report_faces and not args.report:
        raise InputError("--report-faces needs --report PATH.json")
    selection = _track_selection(args, source, settings)
    from ..media.output import default_output, write_json_atomic

    output = output or str(default_output(source))
    from ..media.image import is_image_path

    _files_beside(args, output, settings, is_image_path(source))
    _check_destinations(args, source, output, settings)  # before the heavy imports and any work
    signing = _signing_key(args, output)
    from ..job import enhance_image, enhance_video  # heavy imports only once the arguments are good
    from ..review.console import ProgressView, print_summary
    from ..review.evidence import EvidenceFiles
    from ..review.report import build_report

    measure_quality = bool(args.report) or not args.quiet  # the report and the summary show it
    if is_image_path(source):
        if args.start is not None or args.end is not None:
            raise InputError("--start/--end apply to videos only")
        result = enhance_image(source, output, settings, compare=args.compare, overwrite=args.overwrite,
                               measure_quality=measure_quality, faces_out=args.faces_out,
                               record_faces=args.report_faces, selection=selection, audit=args.audit,
                               signing=signing)
    else:
        with ProgressView(console, quiet=args.quiet) as progress:
            result = enhance_video(
                source, output, settings, start=args.start, end=args.end, compare=args.compare,
                overwrite=args.overwrite, progress=progress.update, keep_frames=bool(args.report),
                measure_quality=measure_quality, faces_out=args.faces_out, record_faces=args.report_faces,
                selection=selection, audit=args.audit, signing=signing,
                evidence=EvidenceFiles(args.mask_out, args.mark_out, mark_output=args.mark and not args.mark_out),
            )
    if args.report:
        write_json_atomic(args.report, build_report(result), overwrite=args.overwrite)
    if not args.quiet:
        print_summary(console, result)
    return 0


def _track_selection(args: argparse.Namespace, source: str, settings: Settings) -> TrackSelection:
    """The tracks to restore from --tracks, --exclude-tracks, --tracks-from and --pick, checked before any work."""
    from ..faces.fingerprint import run_fingerprint
    from ..faces.select import TrackSelection, parse_track_ids, selection_from_gallery

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


def _files_beside(args: argparse.Namespace, output: str, settings: Settings, image: bool) -> None:
    """Fill ``args``' mask, marked copy and gallery from the ``[output]`` settings (named after ``output``)
    where the command line gave none. Mask and marks are refused (InputError) on a picture, with --compare and
    while faces are hidden."""
    from ..media.output import beside

    if not image:
        if settings.output.mask and not args.mask_out:
            args.mask_out = str(beside(output, "mask", ".mkv"))
        if settings.output.marked_copy and not args.mark_out and not args.mark:
            args.mark_out = str(beside(output, "marked"))
    if settings.output.gallery and not args.faces_out:
        args.faces_out = str(beside(output, "faces", ""))
    if not (args.mask_out or args.mark or args.mark_out):
        return
    if image:
        raise InputError("--mask-out, --mark and --mark-out apply to videos only")
    if args.compare:
        raise InputError("--mask-out, --mark and --mark-out describe the enhanced picture alone: not with --compare")
    if settings.redact.enabled:
        raise InputError("--mask-out, --mark and --mark-out cannot be used while faces are hidden (--redact): "
                         "hiding changes pixels outside the restored faces")


def _check_destinations(args: argparse.Namespace, source: str, output: str, settings: Settings) -> None:
    """The output, the report, the mask, the marked copy and the gallery folder against the one destination
    policy (``media.output``): never a device, pipe or socket, never a file the run reads or another of its
    outputs, nothing replaced without -y."""
    from ..media.output import check_destination, check_folder_destination, same_file
    from ..media.source import local_file

    read = [*settings.files_read(), *([args.config] if args.config and os.path.exists(args.config) else [])]
    files = [(flag, path) for flag, path in (("the output", output), ("--report", args.report),
                                             ("--mask-out", args.mask_out), ("--mark-out", args.mark_out),
                                             ("--audit", args.audit)) if path]
    for index, (flag, path) in enumerate(files):
        check_destination(path, source=source, inputs=read, overwrite=args.overwrite)
        for other, taken in files[:index]:
            if same_file(path, taken):
                raise InputError(f"{flag} must be a different file from {other}")
    if args.faces_out:
        if any(same_file(args.faces_out, path) for _, path in files):
            raise InputError("--faces-out must be a folder of its own, not the output, the report, the mask, "
                             "the marked copy or the audit log")
        check_folder_destination(args.faces_out, inputs=[local_file(source), *(path for _, path in files), *read],
                                 overwrite=args.overwrite)


def _signing_key(args: argparse.Namespace, output: str) -> SigningKey | None:
    """--sign's certificate chain and key, checked against the output's format before any work."""
    if not args.sign:
        return None
    from ..review.credentials import SigningKey, check_signable

    key = SigningKey(Path(args.sign[0]), Path(args.sign[1]))
    check_signable(output, key)
    return key
