"""The engine's threads: one per stage, joined by bounded queues, with one shared stop flag. The first error in any
stage wins: it stops every stage and is raised to the consumer (``StageThreads.get``)."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from ..types import PipelineStats

_POLL = 0.1  # seconds between checks for a stopped pipeline


class StageStopped(Exception):
    """Raised inside a stage when another stage has failed or the consumer went away."""


class StageThreads:
    """Threads, bounded queues and one shared stop flag; the first error wins and stops everything."""

    def __init__(self, stats: PipelineStats, depth: int) -> None:
        self.stats = stats
        self.depth = depth
        self.stopped = threading.Event()
        self.error: BaseException | None = None
        self.threads: list[threading.Thread] = []

    def queue(self, depth: int | None = None) -> queue.Queue:
        return queue.Queue(maxsize=depth or self.depth)

    def start(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            except StageStopped:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                if self.error is None:
                    self.error = exc
                self.stopped.set()

        thread = threading.Thread(target=run, name=f"gpen-video-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def put(self, q: queue.Queue, item: object) -> None:
        while True:
            if self.stopped.is_set():
                raise StageStopped
            try:
                q.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue, timeout: float | None = None) -> object:
        """Next item; raises another stage's error, ``StageStopped``, or ``queue.Empty`` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.error is not None:
                raise self.error
            if self.stopped.is_set():
                raise StageStopped
            wait = _POLL if deadline is None else min(_POLL, max(0.0, deadline - time.monotonic()))
            try:
                return q.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    def take(self, q: queue.Queue, count: int) -> list:
        """The next ``count`` items, waiting for each, or fewer when the stream ends (the last is then None)."""
        items = [self.get(q)]
        while len(items) < count and items[-1] is not None:
            items.append(self.get(q))
        return items

    def take_available(self, q: queue.Queue, *, limit: int, timeout: float | None = None) -> list:
        """Up to ``limit`` items: waits ``timeout`` seconds (None: indefinitely) for the first only."""
        try:
            items = [self.get(q, timeout)]
        except queue.Empty:
            return []
        while len(items) < limit and (not items or items[-1] is not None):
            try:
                items.append(q.get_nowait())
            except queue.Empty:
                break
        return items

    def shutdown(self) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=10)
