"""``gpen-video live``: enhance a webcam or stream in real time."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import InputError, SourceLost
from ..media import signals
from ..media.output import check_destination
from .parsers import CommandParser, HelpFormatter, add_tuning_options, command_line_overrides

if TYPE_CHECKING:
    from rich.console import Console

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


def live_parser() -> CommandParser:
    from ..config import build_settings

    settings = build_settings(LIVE_CONFIG)
    defaults = settings.live
    parser = CommandParser(
        prog="gpen-video live",
        description="Enhance a webcam, network stream or real-time-paced video file with bounded latency. "
                    f"Starts from the {LIVE_CONFIG} config preset unless --config names another.",
        epilog=LIVE_EXAMPLES + "\n\n" + LIVE_EXIT_CODES,
        formatter_class=HelpFormatter,
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
    add_tuning_options(parser, settings, defaults_from=LIVE_CONFIG)
    return parser


def _size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> (1280, 720)."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1280x720, got {text!r}")
    return int(width), int(height)


def live_command(argv: Sequence[str], console: Console) -> int:
    args = live_parser().parse_args(argv)
    from ..config import build_settings
    from ..media.output import same_file
    from ..media.source import parse_source

    source = parse_source(args.source)
    overrides = command_line_overrides(args)
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
    from ..live.loop import run_live  # heavy imports only once the arguments are good
    from ..media.output import write_json_atomic
    from ..review.console import print_live_summary
    from ..review.report import build_live_report
    from ..live.terminal_keys import StdinKeys

    if settings.upscale.scale > 1 and not args.quiet:
        from ..live.loop import upscale_notice

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
