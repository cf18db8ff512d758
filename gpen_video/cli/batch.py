"""``gpen-video batch``: many videos, long ones split on keyframes, with local workers or on Ray."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import InputError, Interrupted, InvalidOption, MissingExtra
from ..media import signals
from .outcome import EXIT_SOME_FAILED
from .parsers import EXIT_CODES, CommandParser, HelpFormatter, add_tuning_options, command_line_overrides

if TYPE_CHECKING:
    from rich.console import Console

PER_INPUT_FLAGS = ("--tracks", "--exclude-tracks", "--tracks-from", "--pick")  # refused: ids are per input
BATCH_EXAMPLES = """examples:
  gpen-video batch videos/ long.mp4 --out-dir out/    # again to resume
  gpen-video batch videos/ --out-dir /nfs/out --ray auto"""


def batch_parser() -> CommandParser:
    parser = CommandParser(
        prog="gpen-video batch",
        description="Enhance many videos, or long ones split at keyframes, with local worker processes or "
                    "on a Ray cluster. Re-running the same command resumes an interrupted batch.",
        epilog=BATCH_EXAMPLES + "\n\n" + EXIT_CODES, formatter_class=HelpFormatter,
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
    from ..config import Settings

    add_tuning_options(parser, Settings())
    # Track ids name faces of one input's run only: known here to be refused with the reason, not as unknown flags.
    for flag in PER_INPUT_FLAGS:
        parser.add_argument(flag, dest=f"per_input_{flag[2:].replace('-', '_')}", help=argparse.SUPPRESS)
    return parser


def batch_command(argv: Sequence[str], console: Console) -> int:
    args = batch_parser().parse_args(argv)
    try:
        return _batch(args, console)
    except InvalidOption as exc:  # argparse made each dest from its flag: "--segment-seconds" -> segment_seconds
        raise InputError(f"--{exc.option.replace('_', '-')} must be {exc.requirement}") from None
    except MissingExtra as exc:  # Ray is the batch's only optional dependency
        raise InputError(f"--ray needs {exc.package}: {exc.install_command}") from None


def _batch(args: argparse.Namespace, console: Console) -> int:
    from ..config import build_settings

    given = [flag for flag in PER_INPUT_FLAGS if getattr(args, f"per_input_{flag[2:].replace('-', '_')}") is not None]
    if given:
        raise InputError(f"{given[0]} is not a batch option: track ids name faces of one input's run, not of many "
                         "(run gpen-video on that input)")
    settings = build_settings(args.config, command_line_overrides(args))
    if settings.redact.mode == "others":
        raise InputError("batch takes no --redact others: it restores every track of every input, so almost no "
                         "face would be hidden; use --redact all, or gpen-video per input with --tracks")
    from ..batch import BatchOptions, import_ray, run_batch  # heavy imports only once the settings are good

    if args.ray is not None:
        import_ray()  # exit 2 with the install hint before any work
    options = BatchOptions(out_dir=args.out_dir, ray=args.ray, workers=args.workers, segment_seconds=args.segment_seconds,
                           warmup=args.warmup, retries=args.retries, overwrite=args.overwrite,
                           faces_out=args.faces_out)
    from ..review.console import BatchProgressView, print_batch_summary

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
