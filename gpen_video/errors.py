"""The library's error types: structured fields, one-line messages, and each also its natural built-in
(``except FileExistsError`` catches an existing destination, ``except TimeoutError`` a silent source,
``except ValueError`` bad input), as PyAV's errors are.

Library code raises them and never names a command-line option; ``cli`` adds the hint
(``hint_for``) and decides the process's exit code (``EXIT_CODES_BY_ERROR``).
"""
from __future__ import annotations

from pathlib import Path


class GpenVideoError(Exception):
    """Base class: a problem the user can act on. Shown as one line, never a traceback."""


class InputError(GpenVideoError, ValueError):
    """Bad input or usage: a missing or unreadable file, a bad option or config key."""


class MediaOpenError(InputError):
    """A file or URL that cannot be opened as media (empty, not media, truncated, no video)."""


class InputMissing(MediaOpenError, FileNotFoundError):
    """An input that does not exist: a video or picture, a source, a config file."""


class SourceTimeout(MediaOpenError, TimeoutError):
    """A network source or camera sent nothing for ``seconds``, while opening or in the middle of a read.

    Attributes:
        source: the URL or device, as given.
        seconds: the limit that ran out.
    """

    def __init__(self, source: str, seconds: float) -> None:
        self.source, self.seconds = source, seconds
        super().__init__(f"no data from {source!r} for {seconds:g} s")


class NoDisplayError(InputError):
    """A window was asked for but none can be opened (no display, or an OpenCV without GUI support).

    Attributes:
        reason: why, e.g. "DISPLAY is not set" or OpenCV's error text.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"no display for the live window ({reason})")
        self.reason = reason


class WeightsError(GpenVideoError):
    """Model weights are missing, unreachable, corrupt or do not fit the model.

    Attributes:
        registry_kind: when a registry file could not be obtained, what it is for ("gpen", "detector",
            "parsing"); None for other problems.
    """

    registry_kind: str | None = None


class NonFiniteOutput(WeightsError):
    """A restorer returned NaN or infinite values (black or white faces), whatever its backend: its
    weights or graph are unusable.

    Attributes:
        weights: the weights file or registry model, as the message names it.
    """

    def __init__(self, weights: str) -> None:
        self.weights = weights
        super().__init__(f"{weights} gives NaN or infinite values: its weights or graph are unusable")


class SourceLost(GpenVideoError, ConnectionError):
    """A live source stopped delivering frames and could not be reopened within the reconnect time."""


class Interrupted(GpenVideoError):
    """The run was stopped by SIGINT or SIGTERM."""


class InvalidOption(InputError):
    """An option value outside its range.

    Attributes:
        option: the option's field name (``"workers"``, ``"segment_seconds"``), as the library spells it.
        value: the value given.
        requirement: what the value must be, worded to follow "must be" (``"at least 1"``).
    """

    def __init__(self, option: str, value: object, requirement: str) -> None:
        self.option, self.value, self.requirement = option, value, requirement
        super().__init__(f"{option} must be {requirement}, got {value!r}")


class MissingExtra(InputError, ImportError):
    """An optional dependency is not installed.

    Attributes:
        package: what is missing, as users know it (``"Ray"``).
        extra: the gpen-video extra that installs it (``"ray"``).
    """

    def __init__(self, package: str, extra: str) -> None:
        self.package, self.extra = package, extra
        super().__init__(f"{package} is not installed: {self.install_command}")

    @property
    def install_command(self) -> str:
        return install_command(self.extra)


def install_command(extra: str) -> str:
    """The command that installs the gpen-video extra ``extra``."""
    return f"pip install 'gpen-video[{extra}]'"


class VirtualCameraUnavailable(InputError):
    """No virtual camera can be opened: no backend, or the device is busy or missing.

    Attributes:
        reason: what pyvirtualcam said, on one line.
        remedy: what to install or load on this platform to get a backend.
    """

    def __init__(self, reason: str, remedy: str) -> None:
        self.reason, self.remedy = reason, remedy
        super().__init__(f"no virtual camera ({reason}); {remedy}")


class DestinationExists(InputError, FileExistsError):
    """The output file is already there and replacing it was not asked for."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"output {path} already exists")


class WeightsMissing(WeightsError, FileNotFoundError):
    """Weights that are not in the cache and could not be downloaded.

    Attributes:
        name: registry name, or None when only the URL is known.
        url: where the file can be downloaded from by hand.
        path: where to place it so that it is found.
        reason: why the download failed; None when no download was tried.
    """

    def __init__(self, message: str, *, name: str | None, url: str, path: Path, reason: str | None) -> None:
        self.name, self.url, self.path, self.reason = name, url, path, reason
        super().__init__(message)


class DestinationTaken(InputError, FileExistsError):
    """The output appeared while the run was writing it (another run, another program) and was left as it is.

    Attributes:
        path: the output, untouched.
        kept: where this run's finished result was put instead: a new file beside ``path``.
    """

    def __init__(self, path: Path, kept: Path) -> None:
        self.path, self.kept = path, kept
        super().__init__(f"output {path} appeared while this run was writing it and was left untouched; "
                         f"this run's result is kept as {kept}")


class DestinationUnwritable(InputError, PermissionError):
    """The output's folder does not accept new files (read-only, no permission, a pseudo file system like /proc).

    Attributes:
        path: the output.
        reason: the operating system's words, e.g. "Permission denied".
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"cannot write the output {path}: its folder {path.parent} does not accept new files "
                         f"({reason})")


class VerificationFailed(InputError):
    """An audit log, or the files it describes, or an output's signed Content Credentials, do not check out.

    Attributes:
        where: what failed, as a reader finds it ("audit line 7", "the output", "the manifest").
        what: how it failed, worded to follow ``where`` ("does not follow line 6 (its prev hash differs)").
    """

    def __init__(self, where: str, what: str) -> None:
        self.where, self.what = where, what
        super().__init__(f"{where}: {what}")
