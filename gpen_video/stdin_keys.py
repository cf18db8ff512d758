"""Keys from the terminal for a headless live run: a :class:`~gpen_video.live_controls.KeySource`.

A terminal is switched to cbreak mode (keys arrive as pressed, without Enter; Ctrl-C still sends
SIGINT) and restored on close. A pipe is read as it comes, one character per key. A process in the
background of its terminal does not read it: that would stop the process (SIGTTIN).
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from typing import IO

log = logging.getLogger(__name__)


class StdinKeys:
    """Reads single keys from ``stream`` in a daemon thread; :meth:`poll` returns those pressed since.

    Args:
        stream: a file with a ``fileno`` (``sys.stdin``); closed or unreadable ones give no keys.
    """

    def __init__(self, stream: IO) -> None:
        self._keys: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._fd: int | None = None
        self._saved: list | None = None
        try:
            fd = stream.fileno()
        except (OSError, ValueError, AttributeError):  # no real file behind it (e.g. a test's capture)
            return
        if os.isatty(fd):
            if not _in_foreground(fd):
                return
            self._saved = _cbreak(fd)
        self._fd = fd
        threading.Thread(target=self._read, name="gpen-video-keys", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 64)
            except OSError:
                return
            if not data:  # end of the pipe
                return
            for char in data.decode(errors="ignore"):
                if not char.isspace():
                    self._keys.put(char)

    def poll(self) -> list[str]:
        keys = []
        while True:
            try:
                keys.append(self._keys.get_nowait())
            except queue.Empty:
                return keys

    def close(self) -> None:
        """Give the terminal its mode back (the reading thread ends with the process)."""
        if self._saved is not None and self._fd is not None:
            import termios

            try:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            except termios.error as exc:
                log.warning("could not restore the terminal mode: %s", exc)
            self._saved = None


def _in_foreground(fd: int) -> bool:
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


def _cbreak(fd: int) -> list | None:
    """Switch the terminal to cbreak mode; returns the mode to restore (None where there is no termios)."""
    try:
        import termios
        import tty
    except ImportError:  # Windows: no terminal keys, the window's keys still work
        return None
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    return saved
