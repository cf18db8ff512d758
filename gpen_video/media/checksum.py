"""SHA-256 of files, read in chunks, remembered while a file stays unchanged.

The report hashes the input and the weights; a batch worker or a second report in the same process
would otherwise read a multi-gigabyte file again. A file counts as unchanged while its resolved
path, size and modification time (ns) are the same.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20  # bytes read at a time: memory stays flat whatever the file's size
_KNOWN: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """Lower-case hex SHA-256 of the file at ``path``, streamed.

    Raises:
        OSError: the file cannot be read.
    """
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    key = (str(resolved), stat.st_size, stat.st_mtime_ns)
    if key not in _KNOWN:
        digest = hashlib.sha256()
        with resolved.open("rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
        _KNOWN[key] = digest.hexdigest()
    return _KNOWN[key]
