"""The ``gpen-video`` command.

    gpen-video INPUT [OUTPUT] [options]       enhance a video, URL or image
    gpen-video live --source SRC [options]    enhance a webcam or stream in real time
    gpen-video weights list|download|path     manage model weights
    gpen-video batch INPUTS... --out-dir DIR  many videos, long videos split on keyframes, local or Ray
    gpen-video export NAME -o FILE.onnx       export a GPEN model to ONNX
    gpen-video doctor [--remeasure]           what is installed, which device and backend would run, the caches
    gpen-video verify LOG.jsonl|OUT           check an audit log and its files, or an output's Content Credentials

Exit codes: 0 ok, 1 internal error, 2 bad input or usage, 3 missing weights, 4 live source lost,
5 some batch inputs failed, 130 interrupted.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import GpenVideoError, Interrupted
from ..media import signals
from ..media.output import discard_unfinished
from ..runtime.library_warnings import hide_library_warnings
from .batch import batch_command
from .enhance import enhance_command
from .live import live_command
from .models import doctor_command, export_command, weights_command
from .verify import verify_command
from .outcome import EXIT_CODES_BY_ERROR, EXIT_SOME_FAILED, error_line, exit_code_for, hint_for
from .parsers import EXIT_CODES

# Only light modules above and in the command modules' tops: ``main`` installs the signal policy, and settings and
# destinations are checked, before rich, PyAV, OpenCV or torch load (each command imports what it needs once its
# arguments are good).
if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EXIT_CODES", "EXIT_CODES_BY_ERROR", "EXIT_SOME_FAILED", "error_line", "exit_code_for", "hint_for", "main"]

SUBCOMMANDS = {"weights": weights_command, "live": live_command, "batch": batch_command, "export": export_command,
               "doctor": doctor_command, "verify": verify_command}


def _print_error(console: Console, exc: GpenVideoError) -> int:
    """Print ``exc`` as one line, with what the user can do about it; returns its exit code."""
    console.print(f"gpen-video: error: {error_line(exc)}", markup=False, highlight=False, soft_wrap=True)
    return exit_code_for(exc)


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
        return enhance_command(argv, console)
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
