"""Files that are not what a destination should be: another spelling of a file, a pipe, a device, a socket."""
from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

SPELLINGS = ("same", "dot", "symlink", "hardlink")
SPECIAL = ("fifo", "device", "socket")


def spelled(path: Path, spelling: str) -> Path:
    """Another name of the existing file ``path``, in its folder: ``same`` (itself), ``dot`` (``dir/./name``),
    ``symlink`` or ``hardlink`` (made here, as ``<stem>-link<ext>`` / ``<stem>-hard<ext>``)."""
    if spelling == "same":
        return path
    if spelling == "dot":
        return path.parent / "." / path.name
    other = path.with_name(f"{path.stem}-{'link' if spelling == 'symlink' else 'hard'}{path.suffix}")
    if spelling == "symlink":
        other.symlink_to(path)
    else:
        os.link(path, other)
    return other


def special_file(path: Path, kind: str) -> Path:
    """A named pipe (``fifo``), a character device like /dev/null (``device``: made here, so that a
    failing test cannot harm the real one; needs root, else the test is skipped) or a socket at ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()  # the socket file stays
    return path


def file_type(path: Path) -> int:
    """``S_IFMT`` of ``path`` itself (a symlink is not followed)."""
    return stat.S_IFMT(os.lstat(path).st_mode)
