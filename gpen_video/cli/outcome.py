"""How a ``gpen-video`` process ends: the exit code of each typed error, and the one line printed for it
(the error's message, then the option that gets past it: library errors never name options)."""
from __future__ import annotations

from ..errors import (
    DestinationExists,
    GpenVideoError,
    InputError,
    Interrupted,
    NoDisplayError,
    SourceLost,
    SourceTimeout,
    WeightsError,
    WeightsMissing,
)
from ..media import signals

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
