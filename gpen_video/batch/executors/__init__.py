"""Executors: where units run. Local worker processes, or Ray tasks on a cluster.

The driver talks to both through ``Executor``; ``make_executor`` picks one from the options.
"""
from __future__ import annotations

from typing import Protocol

from ..options import BatchOptions
from ..worker import UnitOutcome, UnitRunner, UnitTask, run_unit

Finished = tuple[str, UnitOutcome | BaseException]  # (unit id, its outcome or its last error)


class Executor(Protocol):
    """Runs units somewhere, retrying failed ones, and reports what finished.

    Attributes:
        capacity: how many units it runs at once; the driver keeps at most this many in flight.
    """

    capacity: int

    def submit(self, task: UnitTask) -> None:
        """Start ``task`` (it runs until it succeeds or its retries are spent)."""

    def in_flight(self) -> int:
        """Units submitted and not yet returned by ``wait``."""

    def wait(self, timeout: float) -> list[Finished]:
        """Wait up to ``timeout`` seconds for units to finish; each is returned once, after its last attempt."""

    def progress(self) -> dict[str, int]:
        """Frames written so far by running units, by unit id (those that reported since the last call)."""

    def close(self, cancel: bool) -> None:
        """Release the workers; with ``cancel``, stop the running units now."""


def make_executor(options: BatchOptions, units: int, runner: UnitRunner = run_unit) -> Executor:
    """The executor ``options`` ask for, for a run of ``units`` units, calling ``runner`` for each.

    Raises:
        MissingExtra: Ray is asked for but not installed.
    """
    if options.ray is not None:
        from .ray import RayExecutor

        return RayExecutor(options.ray, options.workers, options.retries, runner)
    from .local import LocalExecutor, default_workers

    return LocalExecutor(min(units, options.workers or default_workers()), options.retries, runner)
