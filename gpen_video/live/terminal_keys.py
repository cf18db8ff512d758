"""Keys from the terminal for a headless live run: a :class:`~gpen_video.live.controls.KeySource`.

A terminal is switched to cbreak mode (keys arrive as pressed, without Enter; Ctrl-C still sends
SIGINT) and restored on close. A pipe is read as it comes, one character per key. A process started
in the background of its terminal does not read it; one sent there later (Ctrl-Z, ``bg``) must not be
stopped by the terminal either, so SIGTTIN/SIGTTOU are ignored while keys are read (a read then
fails with EIO and is retried until the process is in the foreground again).
"""
from __future__ import annotations

import errno
import logging
import os
import queue
import signal
import threading
import time
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
        self._handlers: dict[int, object] = {}
        try:
            fd = stream.fileno()
        except (OSError, ValueError, AttributeError):  # no real file behind it (e.g. a test's capture)
            return
        if os.isatty(fd):
            if not _in_foreground(fd) or not self._ignore_terminal_stops():
                return
            self._saved = _cbreak(fd)
        self._fd = fd
        threading.Thread(target=self._read, name="gpen-video-keys", daemon=True).start()

    def _ignore_terminal_stops(self) -> bool:
        """Ignore SIGTTIN/SIGTTOU (main thread only; False elsewhere, and on Windows, which has neither)."""
        names = [getattr(signal, name, None) for name in ("SIGTTIN", "SIGTTOU")]
        if None in names or threading.current_thread() is not threading.main_thread():
            return False
        for signum in names:
            self._handlers[signum] = signal.signal(signum, signal.SIG_IGN)
        return True

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 64)
            except OSError as exc:
                if exc.errno == errno.EIO:  # in the background of the terminal for now
                    time.sleep(0.5)
                    continue
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
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler)
        self._handlers = {}


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
