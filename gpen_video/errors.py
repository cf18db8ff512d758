"""Error types that the CLI maps to exit codes (see README, "Exit codes")."""
from __future__ import annotations


class GpenVideoError(Exception):
    """Base class: a problem the user can act on. Shown as one line, never a traceback."""

    exit_code = 1


class InputError(GpenVideoError):
    """Bad input or usage: a missing or unreadable file, a bad option or config key."""

    exit_code = 2


class MediaOpenError(InputError):
    """A file or URL that cannot be opened as media (empty, not media, truncated, no video)."""


class NoDisplayError(InputError):
    """A window was asked for but none can be opened (no display, or an OpenCV without GUI support).

    Attributes:
        reason: why, e.g. "DISPLAY is not set" or OpenCV's error text.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"no display for the live window ({reason})")
        self.reason = reason


class WeightsError(GpenVideoError):
    """Model weights are missing, unreachable, corrupt or do not fit the model."""

    exit_code = 3


class SourceLost(GpenVideoError):
    """A live source stopped delivering frames and could not be reopened within the reconnect time."""

    exit_code = 4


class Interrupted(GpenVideoError):
    """The run was stopped by SIGINT or SIGTERM."""

    exit_code = 130
