"""The signal policy: what SIGINT and SIGTERM do, the same in every mode (file, picture, live, batch).

1. The first signal asks for a clean stop. By default it raises :class:`Interrupted` in the main
   thread, wherever that is (start-up, model load, decoding), so writers abort and remove their
   temporary files; inside ``stopping_with(action)`` it calls ``action`` instead (live mode stops
   capturing and finalises its recording).
2. The second signal is counted and ignored: the clean-up under way (a recording being finalised,
   threads being joined) runs to its end.
3. The third ends the process at once with exit code 130, after removing the temporary files that
   were never committed (``output.discard_unfinished``). A disposable process (a batch worker)
   installs the policy with ``exit_at=1``: its first signal already does this.

Where an exception cannot stop the run cleanly, the first signal also ends the process at once:
during an import (extension modules turn it into an ImportError, and some print it) and when it
was raised inside a finaliser, which Python reports and swallows.

The handlers stay installed until the process ends (``install``, or ``installed(restore=False)``
for a command): putting Python's default handlers back while clean-up was still running is what
turned a second signal into a lost recording or an abort. Worker processes also stop with their
parent (``stop_with_parent``).
"""
from __future__ import annotations

import atexit
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import FrameType
from typing import NoReturn

from ..errors import Interrupted
from .output import discard_unfinished

StopAction = Callable[[int], None]  # called with the signal number of the first signal
SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_AT = 3  # the signal count that exits at once, by default
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_POLL_SECONDS = 0.5


def raise_interrupted(signum: int) -> NoReturn:
    """The default first-signal action: raise ``Interrupted`` where the main thread is."""
    raise Interrupted(f"stopped by {signal.Signals(signum).name}")


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside an import (the import system's frames are on its stack)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


class SignalPolicy:
    """This process's handler of SIGINT and SIGTERM (see the module docstring).

    Attributes:
        received: signals handled so far.
        exit_at: the signal count that exits at once.
        exit_message: written to stderr when the process exits at once (None: nothing).
    """

    def __init__(self, on_stop: StopAction, exit_at: int = EXIT_AT, exit_message: str | None = None) -> None:
        self.received = 0
        self.exit_at = exit_at
        self.exit_message = exit_message
        self._actions = [on_stop]  # the innermost ``stopping_with`` action is last
        self._settled = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        if self.received >= self.exit_at:
            self.exit_now()
        elif self.received == 1 and not self._settled:
            action = self._actions[-1]
            if action is raise_interrupted and _importing(frame):
                self.exit_now()
            action(signum)

    def exit_now(self) -> NoReturn:
        """Remove the unfinished temporary files and end the process at once with exit code 130
        (128 + SIGINT, the shell's convention for a run stopped by a signal, as ``cli`` uses).

        ``os._exit`` skips the interpreter's teardown, which would otherwise wait for (or, with native
        code still running in other threads, abort on) the work being abandoned.
        """
        discard_unfinished()
        if self.exit_message:
            os.write(2, f"{self.exit_message}\n".encode())
        os._exit(EXIT_INTERRUPTED)

    def unraisable(self, unraisable: sys.UnraisableHookArgs) -> None:
        """``sys.unraisablehook``: an ``Interrupted`` raised inside a finaliser was swallowed, so stop now."""
        if isinstance(unraisable.exc_value, Interrupted):
            self.exit_now()
        sys.__unraisablehook__(unraisable)

    @contextmanager
    def stopping_with(self, action: StopAction) -> Iterator[None]:
        """Within the block, the first signal calls ``action``."""
        self._actions.append(action)
        try:
            yield
        finally:
            self._actions.pop()

    def settle(self) -> None:
        """From now on the first signal is ignored too: the process is ending anyway."""
        self._settled = True


_installed: SignalPolicy | None = None


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install(on_stop: StopAction = raise_interrupted, *, exit_at: int = EXIT_AT,
            exit_message: str | None = None) -> SignalPolicy:
    """Make a new policy this process's SIGINT and SIGTERM handler, for good; call from the main thread."""
    global _installed
    policy = SignalPolicy(on_stop, exit_at, exit_message)
    for sig in SIGNALS:
        signal.signal(sig, policy.handle)
    sys.unraisablehook = policy.unraisable
    _installed = policy
    return policy


@contextmanager
def installed(on_stop: StopAction = raise_interrupted, *, restore: bool = True,
              exit_message: str | None = None) -> Iterator[SignalPolicy | None]:
    """A fresh policy for the block; in another thread than the main one nothing changes (None).

    Args:
        restore: put the previous handlers back after the block (a call from Python). False, for a
            process's entry point: the policy stays and ignores signals up to the third, since the
            default handlers would turn a signal during the interpreter's teardown into a traceback
            or exit 143.
        exit_message: see ``SignalPolicy``.
    """
    global _installed
    if not _in_main_thread():
        yield None
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    previous_hook, outer = sys.unraisablehook, _installed
    policy = install(on_stop, exit_message=exit_message)
    try:
        yield policy
    finally:
        if restore:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            sys.unraisablehook, _installed = previous_hook, outer
        else:
            policy.settle()
            atexit.register(_ignore_during_teardown)


def _ignore_during_teardown() -> None:
    """Ignore signals once the interpreter tears down (atexit, registered when the command's work ends).

    Python puts the default handlers back for its teardown, where a late signal would end the
    process with 143 or by SIGINT although everything is already finalised.
    """
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def release_held() -> None:
    """Let SIGINT and SIGTERM through again, once the policy is installed: the command's entry point
    (``gpen_video.__main__``) holds them from its first line, and one that came meanwhile arrives now."""
    if sys.platform != "win32":
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def stopping_with(action: StopAction) -> AbstractContextManager[object]:
    """Within the block, the first SIGINT/SIGTERM calls ``action`` (main thread; elsewhere nothing changes).

    Uses the installed policy, or installs one for the block when there is none.
    """
    if _installed is not None and _in_main_thread():
        return _installed.stopping_with(action)
    return installed(action)


def interrupts_as_exceptions() -> AbstractContextManager[object]:
    """Within the block, the first SIGINT/SIGTERM raises ``Interrupted`` in the main thread."""
    return stopping_with(raise_interrupted)


def stop_with_parent(parent: int) -> None:
    """Send this process SIGTERM when ``parent`` dies, so that its policy stops it (worker processes).

    Linux: ``prctl(PR_SET_PDEATHSIG)``, which the kernel fires even when the parent is SIGKILLed
    (strictly, when the parent's thread that started this process ends: start workers from the
    parent's main thread). Elsewhere a daemon thread polls ``os.getppid()``. A parent already gone
    stops this process now.
    """
    if not _parent_death_signal():
        threading.Thread(target=_watch_parent, args=(parent,), name="gpen-video-parent-watch", daemon=True).start()
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _parent_death_signal() -> bool:
    """Ask the Linux kernel for SIGTERM at the parent's death; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    """Poll until ``parent`` is gone (this process is then adopted by another), then SIGTERM this process."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
