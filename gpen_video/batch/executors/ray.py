"""Ray executor: each unit is a Ray task; Ray places it (one per GPU where there are GPUs) and retries it."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from ...errors import Interrupted, MissingExtra
from ..worker import UnitOutcome, UnitRunner, UnitTask, run_attempt
from .base import Finished


def import_ray() -> ModuleType:
    """Import Ray.

    Raises:
        MissingExtra: Ray is not installed (exit code 2).
    """
    try:
        import ray
    except ImportError:
        raise MissingExtra("Ray", "ray") from None
    return ray


class ProgressBoard:
    """Ray actor: the latest frame count of every unit, written by tasks, read by the driver."""

    def __init__(self) -> None:
        self.frames: dict[str, int] = {}

    def update(self, unit_id: str, frames: int) -> None:
        self.frames[unit_id] = frames

    def snapshot(self) -> dict[str, int]:
        return dict(self.frames)


def _task_entry(runner: UnitRunner, task: UnitTask, board: Any) -> UnitOutcome:
    return run_attempt(runner, task, lambda unit_id, frames: board.update.remote(unit_id, frames))


class RayExecutor:
    """Units as Ray tasks with ``num_cpus=1``, ``num_gpus=1`` where the cluster has GPUs, Ray's retries.

    Args:
        address: "auto", "local" (start a cluster in this process) or a cluster address; ignored when
            Ray is already initialised in this process.
        workers: units in flight at once; None: every GPU slot of the cluster, or every CPU slot without GPUs.
        retries: Ray's ``max_retries`` (exceptions included).
    """

    def __init__(self, address: str, workers: int | None, retries: int, runner: UnitRunner) -> None:
        ray = import_ray()
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(address=None if address == "local" else address, log_to_driver=False,
                     include_dashboard=False, configure_logging=False)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        slots = gpus or int(resources.get("CPU", 1))
        self.capacity = max(1, workers or slots)
        self._runner = runner
        self._remote = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_retries=retries,
                                  retry_exceptions=True)(_task_entry)
        self._board = ray.remote(num_cpus=0)(ProgressBoard).remote()
        self._refs: dict[Any, UnitTask] = {}  # ObjectRef: its task

    def submit(self, task: UnitTask) -> None:
        self._refs[self._remote.remote(self._runner, task, self._board)] = task

    def in_flight(self) -> int:
        return len(self._refs)

    def wait(self, timeout: float) -> list[Finished]:
        if not self._refs:
            time.sleep(timeout)
            return []
        with _interrupts_unwrapped():
            ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        finished: list[Finished] = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                finished.append((task.unit.id, self._ray.get(ref)))
            except Exception as exc:  # noqa: BLE001 - the task's error, after Ray's retries
                finished.append((task.unit.id, _task_error(exc)))
        return finished

    def progress(self) -> dict[str, int]:
        with _interrupts_unwrapped():
            return self._ray.get(self._board.snapshot.remote())

    def close(self, cancel: bool) -> None:
        if cancel:
            for ref in self._refs:
                self._ray.cancel(ref, force=True)
        if self._owns:
            self._ray.shutdown()


def _task_error(exc: Exception) -> BaseException:
    """The unit's own exception where Ray wrapped it (``RayTaskError.cause``), else Ray's error."""
    from ray.exceptions import RayTaskError

    if isinstance(exc, RayTaskError) and exc.cause is not None:
        return exc.cause
    return exc


@contextmanager
def _interrupts_unwrapped() -> Iterator[None]:
    """Ray's compiled calls turn ``Interrupted``, raised by the signal policy while they wait, into a
    ``SystemError`` ("returned a result with an exception set"): give the stop back as it was raised."""
    try:
        yield
    except SystemError as exc:
        stop = exc.__cause__ or exc.__context__
        if isinstance(stop, Interrupted):
            raise stop from None
        raise
