"""Turn SIGINT/SIGTERM into :class:`gpen_video.errors.Interrupted` so writers can abort cleanly."""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from ..errors import Interrupted

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_interrupted(signum: int, _frame) -> None:
    raise Interrupted(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def handling_signals(handler: Callable[[int, object], None]) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM call ``handler(signum, frame)`` in the main thread.

    Outside the main thread (where Python cannot install handlers) this does nothing. The previous
    handlers are restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def interrupts_as_exceptions() -> AbstractContextManager[None]:
    """Within the block, SIGINT and SIGTERM raise Interrupted in the main thread."""
    return handling_signals(_raise_interrupted)
