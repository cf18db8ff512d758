"""Local executor: a pool of spawned worker processes on this machine, with a retry loop."""
from __future__ import annotations

import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.connection import wait as wait_for_exits
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue

from ...runtime.library_warnings import hide_library_warnings
from ...media import signals
from ..worker import UnitOutcome, UnitRunner, UnitTask, run_attempt
from .base import Finished
from .threads import cap_threads, core_shares

REAP_SECONDS = 5.0  # how long stopped workers get to abort their units before they are killed


# A GPU box runs several segment workers per GPU: each worker's pipeline is bounded by its CPU stages
# and by libx264 (H100/H200 have no NVENC), so one worker would leave both the GPU and most cores idle.
CORES_PER_WORKER = 4  # x264 at 1080p scales well to about 4 threads; the rest go to decode and paste
MAX_WORKERS_PER_GPU = 4  # each worker holds its own GPEN and detector: bounded GPU memory


def default_workers(gpus: int | None = None, cores: int | None = None) -> int:
    """Workers for this machine (or for ``gpus`` GPUs and ``cores`` CPU cores): 1 without GPUs (one
    process already uses every core); with GPUs, one per ``CORES_PER_WORKER`` cores, at least one and at
    most ``MAX_WORKERS_PER_GPU`` per GPU."""
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    cores = cores if cores is not None else os.cpu_count() or 1
    if gpus < 1:
        return 1
    per_gpu = min(MAX_WORKERS_PER_GPU, max(1, cores // (CORES_PER_WORKER * gpus)))
    return gpus * per_gpu


class LocalExecutor:
    """Worker processes (spawned, so CUDA and threads start clean), a retry loop in the driver.

    Each worker gets one GPU (round-robin, ``CUDA_VISIBLE_DEVICES``; several workers share a GPU when
    there are more workers than GPUs) and its own ``cpu_count / workers`` cores, which every library in it
    keeps to (``threads.cap_threads``). A worker that dies (OOM kill, segfault) breaks the whole
    pool: every unit in flight fails with ``BrokenProcessPool``. The pool is then replaced and those
    units go round the retry loop like any other failure, each charged one attempt.
    """

    def __init__(self, workers: int, retries: int, runner: UnitRunner) -> None:
        import multiprocessing

        import torch

        self._context = multiprocessing.get_context("spawn")
        _start_quiet_resource_tracker()  # before the first queue, which would start it
        self._workers = workers
        self._gpus = torch.cuda.device_count()
        self._cores = core_shares(workers)
        self._retries = retries
        self._runner = runner
        self._futures: dict[Future, tuple[UnitTask, int, ProcessPoolExecutor]] = {}  # (task, attempt, its pool)
        self.capacity = workers
        self._pool, self._progress = self._start()

    def _start(self) -> tuple[ProcessPoolExecutor, Queue]:
        """A new pool with its own queues: a killed worker may have left the old ones locked."""
        progress, slots = self._context.Queue(), self._context.Queue()
        for k in range(self._workers):
            slots.put((k % self._gpus if self._gpus else None, self._cores[k]))
        pool = ProcessPoolExecutor(self._workers, mp_context=self._context, initializer=_worker_init,
                                   initargs=(progress, slots, os.getpid()))
        return pool, progress

    def _restart(self) -> None:
        for process in _pool_workers(self._pool):  # stragglers could block on the broken pool's queues
            process.kill()
        self._pool.shutdown(wait=False)  # its futures all fail with BrokenProcessPool, none is cancelled
        self._progress.close()
        self._pool, self._progress = self._start()

    def submit(self, task: UnitTask) -> None:
        self._submit(task, attempt=1)

    def _submit(self, task: UnitTask, attempt: int) -> None:
        from concurrent.futures.process import BrokenProcessPool

        try:
            future = self._pool_submit(task)
        except BrokenProcessPool:  # broke since the last wait; its futures come back failed there
            self._restart()
            future = self._pool_submit(task)
        self._futures[future] = (task, attempt, self._pool)

    def _pool_submit(self, task: UnitTask) -> Future:
        """Submit with SIGINT blocked: workers are spawned in ``submit`` and inherit the mask, in every thread.

        Ctrl-C reaches the whole process group, but the driver decides what an interrupt stops (it
        terminates the workers). Blocked, not ignored, because the unit code installs its own SIGINT
        handler; and blocked from the start, because threads a worker starts on import (numpy's) would
        not inherit a mask set later in ``_worker_init``. A Ctrl-C during this call reaches the driver after it.
        """
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return self._pool.submit(_worker_entry, self._runner, task)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def in_flight(self) -> int:
        return len(self._futures)

    def wait(self, timeout: float) -> list[Finished]:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures
        from concurrent.futures.process import BrokenProcessPool

        done, _ = wait_futures(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        finished: list[Finished] = []
        for future in done:
            task, attempt, pool = self._futures.pop(future)
            error = future.exception()
            if isinstance(error, BrokenProcessPool) and pool is self._pool:
                self._restart()  # once per broken pool: its other futures fail the same way
            if error is None:
                finished.append((task.unit.id, future.result()))
            elif attempt <= self._retries:
                self._submit(task, attempt + 1)
            else:
                finished.append((task.unit.id, error))
        return finished

    def progress(self) -> dict[str, int]:
        import queue

        latest: dict[str, int] = {}
        while True:
            try:
                unit_id, frames = self._progress.get_nowait()
            except (queue.Empty, OSError, ValueError):
                return latest
            latest[unit_id] = frames

    def close(self, cancel: bool) -> None:
        """Shut the pool down; ``cancel``: SIGTERM every worker (it removes its part file and exits) and reap them.

        A worker still there after ``REAP_SECONDS`` (stuck in native code) is killed, so that none
        outlives the driver.
        """
        if not cancel:
            self._pool.shutdown(wait=True)
            return
        for future in self._futures:
            future.cancel()
        workers = _pool_workers(self._pool)
        for process in workers:
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if workers:
            _reap(workers)


def _start_quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with its leak warnings filtered out.

    The queues of spawned workers are named semaphores. When the driver is killed (SIGKILL) before
    it can release them, the tracker process, which outlives it, unlinks them: its job, done. It
    also says so in a two-line Python warning ("There appear to be N leaked semaphore objects") on
    the command's stderr. Only the tracker's own warnings are dropped, by a ``PYTHONWARNINGS``
    filter in the environment it starts with; this process's environment is put back at once.
    """
    from multiprocessing import resource_tracker

    previous = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [previous, "ignore:resource_tracker:UserWarning"]))
    try:
        resource_tracker.ensure_running()
    finally:
        if previous is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = previous


def _pool_workers(pool: ProcessPoolExecutor) -> list[BaseProcess]:
    """The pool's own worker processes (``ProcessPoolExecutor`` has no public way before Python 3.14)."""
    return list((pool._processes or {}).values())


def _reap(workers: list[BaseProcess]) -> None:
    """Wait for ``workers`` to exit, killing those still there after ``REAP_SECONDS``."""
    exited = set(wait_for_exits([p.sentinel for p in workers], timeout=REAP_SECONDS))
    stuck = [p for p in workers if p.sentinel not in exited]
    for process in stuck:
        process.kill()
    if stuck:
        wait_for_exits([p.sentinel for p in stuck], timeout=REAP_SECONDS)


_PROGRESS: Queue | None = None  # this worker process's progress queue to the driver


def _worker_init(progress: Queue, slots: Queue, driver: int) -> None:
    """Worker process start: the signal policy, progress queue, one GPU per worker, a fair share of the cores.

    SIGINT is blocked in workers (see ``LocalExecutor._pool_submit``). SIGTERM, from the driver or
    from the kernel when the driver dies, ends a worker at once, after removing its unit's
    unfinished part file: the unit runs again later, so there is nothing to finish cleanly.
    """
    global _PROGRESS
    hide_library_warnings()  # workers share the command's stderr
    signals.install(exit_at=1)
    signals.stop_with_parent(driver)
    _PROGRESS = progress
    gpu, cores = slots.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    cap_threads(cores)


def _worker_entry(runner: UnitRunner, task: UnitTask) -> UnitOutcome:
    queue = _PROGRESS  # set by _worker_init in every worker process
    return run_attempt(runner, task, lambda unit_id, frames: queue.put((unit_id, frames)))
