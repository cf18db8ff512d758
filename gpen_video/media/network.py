"""Opening sources that wait: network URLs and cameras get a timeout on every open and read, and a
stop signal never waits for them.

FFmpeg waits for a server inside C code, where Python cannot run a signal handler, so a server that
accepts and never answers would hold the process until FFmpeg gives up. Two limits bound each wait:
FFmpeg's ``rw_timeout`` (every protocol read, URLs only) and PyAV's interrupt timeout (the open as a
whole, then each packet). And the open runs in a helper thread while the main thread waits in a way
that SIGINT/SIGTERM interrupt.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

import av
from av.codec.hwaccel import HWAccel

from .source import is_device, is_url

T = TypeVar("T")


def waits_for_data(source: str) -> bool:
    """A network URL or a camera: reading it can block for as long as the other end likes (a ``file:`` URL cannot)."""
    return (is_url(source) and not source.lower().startswith("file:")) or is_device(source)


def open_container(url: str, *, io_timeout: float, format: str | None = None,
                   options: dict[str, str] | None = None, hwaccel: HWAccel | None = None,
                   ) -> av.container.InputContainer:
    """``av.open(url)`` for reading; a URL or camera fails once it sends nothing for ``io_timeout`` seconds.
    ``hwaccel``: decode on that hardware device (PyAV's ``HWAccel``).

    The caller's ``options`` win over the ``rw_timeout`` set here. Call it through
    :func:`run_interruptibly` (or from a thread other than the main one) for the wait to be interruptible.

    Raises:
        av.FFmpegError, OSError, ValueError: as ``av.open``; a timeout is ``av.error.ExitError`` or
            ``av.error.TimeoutError`` (see :func:`is_timeout`).
    """
    if not waits_for_data(url):
        return av.open(url, format=format, options=options or {}, hwaccel=hwaccel)
    if is_url(url):
        options = {"rw_timeout": str(round(io_timeout * 1_000_000)), **(options or {})}
    return av.open(url, format=format, options=options or {}, timeout=(io_timeout, io_timeout), hwaccel=hwaccel)


def is_timeout(exc: BaseException) -> bool:
    """The error FFmpeg gives when a limit set by :func:`open_container` ran out."""
    return isinstance(exc, (av.error.ExitError, av.error.TimeoutError))


def failure_reason(url: str, exc: BaseException) -> str:
    """Why ``url`` could not be opened, in words: for a URL, FFmpeg's "Invalid data found" alone does not say."""
    if not is_url(url):
        return str(exc)
    if isinstance(exc, av.error.InvalidDataError):
        scheme = url.split("://", 1)[0].upper()
        return f"the server answered, but not with {scheme} media that FFmpeg can read"
    return getattr(exc, "strerror", None) or str(exc)


class _Outcome(Generic[T]):
    """What the helper thread produced, and whether the waiting thread gave up on it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.abandoned = False
        self.value: T | None = None
        self.error: BaseException | None = None


def run_interruptibly(work: Callable[[], T], discard: Callable[[T], None]) -> T:
    """``work()``, run so that a signal handler in the main thread can interrupt the wait for it.

    In the main thread, ``work`` runs in a daemon helper thread while the main thread waits on an
    event (a wait Python's signal handlers interrupt). When the handler raises, that exception
    propagates at once; ``work`` goes on until its own timeout, and its result, if any, is handed to
    ``discard``. Outside the main thread, where no signal handler runs, ``work`` is called directly.
    """
    if threading.current_thread() is not threading.main_thread():
        return work()
    outcome: _Outcome[T] = _Outcome()

    def run() -> None:
        try:
            value = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread and raised there
            outcome.error = exc
        else:
            with outcome.lock:
                keep = not outcome.abandoned
                if keep:
                    outcome.value = value
            if not keep:
                discard(value)
        finally:
            outcome.done.set()

    threading.Thread(target=run, name="gpen-video-open", daemon=True).start()
    try:
        outcome.done.wait()
    except BaseException:
        with outcome.lock:
            outcome.abandoned = True
            finished, outcome.value = outcome.value, None
        if finished is not None:
            discard(finished)
        raise
    if outcome.error is not None:
        raise outcome.error
    return cast(T, outcome.value)
