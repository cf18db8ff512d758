"""Executors: where units run. Local worker processes, or Ray tasks on a cluster.

The driver talks to both through ``Executor``; ``make_executor`` picks one from the options.
"""
from __future__ import annotations

from ..options import BatchOptions
from ..worker import UnitRunner, run_unit
from .base import Executor, Finished

__all__ = ["Executor", "Finished", "make_executor"]


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
