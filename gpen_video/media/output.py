"""Safe output: destination checks, a temporary file beside the destination, atomic rename.

Rules (the same for video and images):
- the destination must not be the input file (checked by path and, when both exist, by inode);
- an existing destination is replaced only with ``overwrite`` (the CLI's ``-y``), like ffmpeg;
- the destination folder must exist;
- data goes to a hidden temporary file in the destination folder and is renamed into place with
  ``os.replace`` only after it is complete, so a crash never leaves a half-written destination.
"""
from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from .source import is_url

TEMP_MARK = ".gpen-part"
_UNFINISHED: set[Path] = set()  # temporary files named by temp_path_for, not yet committed or discarded


def check_destination(dest: str | Path, *, source: str | Path | None = None, overwrite: bool = False) -> Path:
    """Validate ``dest`` before anything is created; returns it as an absolute Path.

    Raises:
        InputError: dest is the source, exists without ``overwrite``, is a folder, or its folder is missing.
    """
    path = Path(dest).expanduser().absolute()
    if source is not None and not is_url(source):
        src = Path(source).expanduser().absolute()
        same = src.resolve() == path.resolve()
        if not same and src.exists() and path.exists():
            same = os.path.samefile(src, path)
        if same:
            raise InputError(f"refusing to write the output over the input file {src}")
    if path.is_dir():
        raise InputError(f"output {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise InputError(f"output folder {path.parent} does not exist")
    if path.exists() and not overwrite:
        raise InputError(f"output {path} already exists; use -y to overwrite it")
    return path


def temp_path_for(dest: Path) -> Path:
    """A fresh hidden name beside ``dest`` that keeps its extension (muxers pick formats by it).

    The name is registered as unfinished until ``commit`` or ``discard``, so that an exit at once
    can still remove the file (``discard_unfinished``).
    """
    temp = dest.with_name(f".{dest.stem}.{secrets.token_hex(4)}{TEMP_MARK}{dest.suffix}")
    _UNFINISHED.add(temp)
    return temp


def commit(temp: Path, dest: Path) -> None:
    """Move a finished temporary file onto ``dest`` atomically (same folder, same filesystem)."""
    os.replace(temp, dest)
    _UNFINISHED.discard(temp)


def write_json_atomic(path: str | Path, data: object) -> None:
    """Write ``data`` to ``path`` as JSON (indented by 2) so that a reader never sees half a file.

    The text goes to a hidden temporary file beside ``path`` (``temp_path_for``: it carries
    ``TEMP_MARK``, so cleaners of half-written files find it), is flushed and fsynced, and then
    replaces ``path`` with ``os.replace``. On any error, Ctrl-C included, the temporary file is removed
    and ``path`` keeps its previous content. Values JSON has no type for (paths, fractions) are
    written as their ``str``.

    Raises:
        OSError: the folder is missing or not writable, or the disk is full.
    """
    path = Path(path)
    temp = temp_path_for(path)
    try:
        with open(temp, "w") as handle:
            json.dump(data, handle, indent=2, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        commit(temp, path)
    except BaseException:
        discard(temp)
        raise


def close_quietly(*closers: Callable[[], object] | None) -> None:
    """Call each closer, ignoring its errors: for files that are being thrown away anyway."""
    for closer in closers:
        if closer is None:
            continue
        try:
            closer()
        except Exception:  # the file is being thrown away; its errors do not matter
            pass


def discard(temp: Path) -> None:
    """Remove a temporary file if it is there."""
    try:
        temp.unlink()
    except FileNotFoundError:
        pass
    _UNFINISHED.discard(temp)


def discard_unfinished() -> None:
    """Remove every temporary file of this process that was neither committed nor discarded.

    Safe in a signal handler of the main thread: set operations are atomic, a file committed
    meanwhile is simply no longer there, and one that cannot be removed does not stop the others.
    """
    for temp in list(_UNFINISHED):
        try:
            discard(temp)
        except OSError:
            pass
