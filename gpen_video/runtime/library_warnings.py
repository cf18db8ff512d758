"""Python warnings from the libraries underneath (torch, PIL, ...) are for developers, not users.

They name library files and lines and often span several lines, which breaks the command's promise
of one-line messages. The command and its worker processes send them to the ``py.warnings`` logger,
which drops them; ``GPEN_VIDEO_DEBUG=1`` lets them through as they are. The package's own notices
are logged, not warned, so they are unaffected.
"""
from __future__ import annotations

import logging
import os


def hide_library_warnings() -> None:
    """Drop Python warnings for the rest of this process, unless ``GPEN_VIDEO_DEBUG`` is set."""
    if os.environ.get("GPEN_VIDEO_DEBUG"):
        return
    logging.captureWarnings(True)
    captured = logging.getLogger("py.warnings")
    if not captured.handlers:  # a handler, so logging's last-resort printer stays out
        captured.addHandler(logging.NullHandler())
    captured.propagate = False
