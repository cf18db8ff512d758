"""One long-lived thread that runs all of a restorer's model work.

cuDNN's autotuning results, the current CUDA device, autocast and inference mode are per thread: a
restorer warmed up in the thread that built it and then called from each new stream's thread would
tune its kernels again for every job. ``ComputeThread`` runs every call on the same thread instead,
started on first use and stopped by ``close`` (or when its owner is garbage-collected).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class _ThreadId:
    """The running thread's id, set by the thread itself (kept apart from the pool, so that the thread
    holds no reference to the pool and ends when the pool is collected)."""

    def __init__(self) -> None:
        self.ident: int | None = None


def _started(thread_id: _ThreadId, on_start: Callable[[], None] | None) -> None:
    thread_id.ident = threading.get_ident()
    if on_start is not None:
        on_start()


class ComputeThread:
    """Runs callables, one at a time, on one thread of its own.

    Args:
        name: the thread's name (shown by debuggers and ``threading.enumerate``).
        on_start: called once on the new thread before its first call (e.g. ``torch.cuda.set_device``).
    """

    def __init__(self, name: str, on_start: Callable[[], None] | None = None) -> None:
        self._name = name
        self._on_start = on_start
        self._id = _ThreadId()
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def ident(self) -> int | None:
        """The thread's id once it has started, else None."""
        return self._id.ident

    def run(self, fn: Callable[..., T], /, *args, **kwargs) -> T:
        """``fn(*args, **kwargs)`` on the thread; its result, or its exception raised here.

        A call from the thread itself runs at once (a method calling another).
        """
        if self._id.ident == threading.get_ident():
            return fn(*args, **kwargs)
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix=self._name, initializer=_started,
                                                initargs=(self._id, self._on_start))
            future = self._pool.submit(fn, *args, **kwargs)
        return future.result()

    def close(self) -> None:
        """Finish the call in progress and end the thread; a later ``run`` starts a new one."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self._id.ident = None
