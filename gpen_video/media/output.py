"""Safe output: destination checks, a temporary file beside the destination, a publish that claims it.

This is the one policy for every file a run writes (videos, pictures, batch joins, reports, ONNX
exports, gallery folders):
- never a device, a named pipe or a socket (``check_destination`` refuses one, a symlink to one
  included; ``commit`` refuses to replace one that appeared meanwhile);
- never one of the run's inputs: the source's local file (any path spelling, or a ``file:`` URL) and
  the other files the run reads (weights, config), compared by resolved path and, when both exist,
  by device and inode (hard links); a folder destination must not hold one of them;
- an existing destination, a dangling symlink included, is replaced only with ``overwrite`` (the
  CLI's ``-y``), like ffmpeg;
- the destination folder must exist and accept new files (probed by creating one, before any work);
- data goes to a hidden temporary file in the destination folder and is published by ``commit`` only
  after it is complete, so a crash never leaves a half-written destination;
- without ``overwrite`` the publish is exclusive: a file that appeared at the destination meanwhile
  (another run's output) is never replaced. The finished result is then kept beside it as
  ``<stem>.gpen-<pid><ext>`` and ``DestinationTaken`` is raised. With ``overwrite`` it is ``os.replace``.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import DestinationExists, DestinationTaken, DestinationUnwritable, InputError
from .source import Source, file_problem, local_file

TEMP_MARK = ".gpen-part"
_UNFINISHED: set[Path] = set()  # temporary files named by temp_path_for, not yet committed or discarded
_UNFINISHED_FOLDERS: set[Path] = set()  # the same for temp_folder_for

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
# errno values meaning "this file system (or kernel) cannot do that", as opposed to a real failure.
_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM})


def check_destination(dest: str | Path, *, source: Source | None = None, inputs: Iterable[str | Path | None] = (),
                      overwrite: bool = False) -> Path:
    """Validate ``dest`` before any work; returns it as an absolute Path.

    ``source`` is what the run reads its frames from (a path, URL or camera); ``inputs`` are the other
    local files it reads (weights, a config file; None entries are skipped).

    Raises:
        DestinationExists: dest exists (a dangling symlink included) and ``overwrite`` is off.
        InputError: dest is a device, named pipe or socket, is the source or one of ``inputs``, is a
            folder, or its folder is missing.
        DestinationUnwritable: its folder does not accept new files.
    """
    path = Path(dest).expanduser().absolute()
    source_file = None if source is None else local_file(source)
    if source_file is not None and _same_file(source_file.expanduser().absolute(), path):
        raise InputError(f"refusing to write the output over the input file {source}")
    for read in _local(inputs):
        if _same_file(read, path):
            raise InputError(f"refusing to write {path} over {read}, which this run reads")
    if path.is_dir():
        raise InputError(f"output {path} is a folder; give a file name")
    _refuse_special(path, path)
    if not path.parent.is_dir():
        raise InputError(f"output folder {path.parent} does not exist")
    if os.path.lexists(path) and not overwrite:
        raise DestinationExists(path)
    _probe_folder(path)
    return path


def default_output(source: str | Path) -> Path:
    """``output_<name>`` beside the input (a path or a ``file:`` URL)."""
    path = local_file(source) or Path(source)
    return path.with_name(f"output_{path.name}")


def beside(output: str | Path, tag: str, suffix: str | None = None) -> Path:
    """A file (or folder) named after ``output`` beside it: ``<stem>.<tag><suffix>``, the output's own
    extension when ``suffix`` is None (``out.mp4`` -> ``out.marked.mp4``, ``out.mask.mkv``, ``out.faces``)."""
    path = Path(output)
    return path.with_name(f"{path.stem}.{tag}{path.suffix if suffix is None else suffix}")


def _local(inputs: Iterable[str | Path | None]) -> list[Path]:
    return [Path(p).expanduser().absolute() for p in inputs if p is not None]


def _refuse_special(path: Path, named: Path) -> None:
    """Raise InputError if ``path`` (symlinks followed) is a device, named pipe or socket: writing there
    would replace a node that is not ours, or block, or feed a device. ``named`` is what the message names."""
    if os.path.exists(path) and not os.path.isdir(path) and (problem := file_problem(path)) is not None:
        raise InputError(f"refusing to write {named}: {problem}")


def _same_file(a: Path, b: Path) -> bool:
    """One file under two absolute spellings: the same resolved path, or the same inode (a hard link)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def same_file(a: str | Path, b: str | Path) -> bool:
    """One file under two spellings (``~``, relative, ``..``, symlinks, hard links), whether or not it exists yet."""
    return _same_file(Path(a).expanduser().absolute(), Path(b).expanduser().absolute())


def _probe_folder(dest: Path) -> None:
    """Create and remove a file beside ``dest``: a folder that refuses it fails now, not after the work."""
    probe = temp_path_for(dest)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise DestinationUnwritable(dest, exc.strerror or str(exc)) from None
    os.unlink(probe)


def temp_path_for(dest: Path) -> Path:
    """A fresh hidden name beside ``dest`` that keeps its extension (muxers pick formats by it).

    The name is registered as unfinished until ``commit`` or ``discard``, so that an exit at once
    can still remove the file (``discard_unfinished``).
    """
    temp = dest.with_name(f".{dest.stem}.{secrets.token_hex(4)}{TEMP_MARK}{dest.suffix}")
    _UNFINISHED.add(temp)
    return temp


def commit(temp: Path, dest: Path, *, overwrite: bool) -> None:
    """Publish the finished file ``temp`` as ``dest`` (same file system), atomically where it can be.

    With ``overwrite``, ``os.replace``. Without, ``dest`` is claimed exclusively: a rename that
    refuses to replace (Linux ``renameat2(RENAME_NOREPLACE)``), else a hard link and unlink, else (a
    file system without hard links) an exclusive create and copy. Never a plain replace.

    Raises:
        DestinationTaken: ``dest`` exists (a dangling symlink counts) and ``overwrite`` is off; it
            is left untouched and ``temp`` is moved to a new name beside it (``DestinationTaken.kept``).
        InputError: ``dest`` is (now) a device, named pipe or socket; it is left untouched, ``temp`` too.
    """
    if overwrite:
        _refuse_special(dest, dest)  # one that appeared while the run worked is not ours either
        os.replace(temp, dest)
    else:
        try:
            _publish_exclusive(temp, dest)
        except FileExistsError:
            kept = _keep_beside(temp, dest)
            _UNFINISHED.discard(temp)
            raise DestinationTaken(dest, kept) from None
    _UNFINISHED.discard(temp)


def _keep_beside(temp: Path, dest: Path) -> Path:
    """Publish ``temp`` under the first free name ``<stem>.gpen-<pid>[-<random>]<ext>`` beside ``dest``."""
    tag = str(os.getpid())
    while True:
        kept = dest.with_name(f"{dest.stem}.gpen-{tag}{dest.suffix}")
        try:
            _publish_exclusive(temp, kept)
            return kept
        except FileExistsError:
            tag = f"{os.getpid()}-{secrets.token_hex(2)}"


def _publish_exclusive(temp: Path, dest: Path) -> None:
    """Move ``temp`` to ``dest`` unless ``dest`` exists (FileExistsError then, both left as they are)."""
    if not (_rename_noreplace(temp, dest) or _link_and_unlink(temp, dest)):
        _copy_exclusive(temp, dest)


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """libc's ``renameat2`` (Linux, glibc 2.28+), or None where there is none."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


def _rename_noreplace(temp: Path, dest: Path) -> bool:
    """Rename unless ``dest`` exists; False when the kernel or file system cannot do it."""
    rename = _renameat2()
    if rename is None:
        return False
    if rename(_AT_FDCWD, os.fsencode(temp), _AT_FDCWD, os.fsencode(dest), _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(dest))  # EEXIST makes it a FileExistsError


def _link_and_unlink(temp: Path, dest: Path) -> bool:
    """Hard-link ``temp`` as ``dest`` (fails if it exists), then drop the temporary name; False without hard links."""
    try:
        os.link(temp, dest)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return False
        raise
    os.unlink(temp)
    return True


def _copy_exclusive(temp: Path, dest: Path) -> None:
    """Create ``dest`` only if it does not exist (``O_EXCL``), copy ``temp`` into it, remove ``temp``."""
    handle = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(handle, "wb") as out, open(temp, "rb") as data:
            shutil.copyfileobj(data, out)
    except BaseException:
        os.unlink(dest)  # ours: created a moment ago
        raise
    os.unlink(temp)


def write_json_atomic(path: str | Path, data: object, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` as JSON (indented by 2) so that a reader never sees half a file.

    The text goes to a hidden temporary file beside ``path`` (``temp_path_for``: it carries
    ``TEMP_MARK``, so cleaners of half-written files find it), is flushed and fsynced, and then
    published by ``commit``: with ``overwrite`` (manifests and caches, rewritten in place) it
    replaces ``path``; without (a report the user did not allow to replace) it never does.
    On any error, Ctrl-C included, the temporary file is removed and ``path`` keeps its previous
    content. Values JSON has no type for (paths, fractions) are written as their ``str``.

    Raises:
        OSError: the folder is missing or not writable, or the disk is full. InputError,
            DestinationTaken: see ``commit``.
    """
    path = Path(path)
    temp = temp_path_for(path)
    try:
        with open(temp, "w") as handle:
            json.dump(data, handle, indent=2, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        commit(temp, path, overwrite=overwrite)
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


def check_folder_destination(dest: str | Path, *, inputs: Iterable[str | Path | None] = (),
                             overwrite: bool = False) -> Path:
    """Validate a folder destination before any work (a gallery); returns it as an absolute Path.

    An empty existing folder is taken as it is (a user may create it first); a folder with files in it
    is replaced only with ``overwrite``, a file never. ``inputs``: the files the run reads and its
    other outputs; replacing the folder would remove any of them that lies inside.

    Raises:
        DestinationExists: a non-empty folder and ``overwrite`` is off.
        InputError: dest is a file, a device, named pipe or socket, holds one of ``inputs``, or its
            parent folder is missing.
        DestinationUnwritable: the parent folder does not accept new files.
    """
    path = Path(dest).expanduser().absolute()
    _refuse_special(path, path)
    if os.path.lexists(path) and not path.is_dir():
        raise InputError(f"{path} is a file; give a folder name")
    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} does not exist")
    for read in _local(inputs):
        if read.resolve().is_relative_to(path.resolve()):
            raise InputError(f"refusing to write the folder {path}: it holds {read}, which this run reads or writes")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise DestinationExists(path)
    _probe_folder(path)
    return path


def temp_folder_for(dest: Path) -> Path:
    """Create a fresh hidden folder beside ``dest`` to fill, registered as unfinished until ``commit_folder``."""
    temp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}{TEMP_MARK}")
    temp.mkdir()
    _UNFINISHED_FOLDERS.add(temp)
    return temp


def commit_folder(temp: Path, dest: Path, *, overwrite: bool) -> None:
    """Publish the finished folder ``temp`` as ``dest`` (same file system).

    A missing or empty ``dest`` is claimed by one rename. An existing folder with files is replaced
    only with ``overwrite``: it is renamed aside, ``temp`` takes its name, then the old one is removed,
    so ``dest`` is never a mix of the two.

    Raises:
        DestinationExists: ``dest`` holds files (it appeared meanwhile) and ``overwrite`` is off;
            ``temp`` is removed.
    """
    old = None
    if dest.is_dir() and any(dest.iterdir()):
        if not overwrite:
            discard_folder(temp)
            raise DestinationExists(dest)
        old = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.old{TEMP_MARK}")
        os.rename(dest, old)
    os.rename(temp, dest)  # onto nothing or onto an empty folder: POSIX replaces an empty one
    _UNFINISHED_FOLDERS.discard(temp)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def discard_folder(temp: Path) -> None:
    """Remove a temporary folder and everything in it, if it is there."""
    shutil.rmtree(temp, ignore_errors=True)
    _UNFINISHED_FOLDERS.discard(temp)


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
    for folder in list(_UNFINISHED_FOLDERS):
        discard_folder(folder)
