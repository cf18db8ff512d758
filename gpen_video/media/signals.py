"""Turn SIGINT/SIGTERM into :class:`gpen_video.errors.Interrupted` so writers can abort cleanly."""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import Interrupted

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_interrupted(signum: int, _frame) -> None:
    raise Interrupted(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise Interrupted in the main thread.

    Outside the main thread (where Python cannot install handlers) this does nothing. The previous
    handlers are restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
