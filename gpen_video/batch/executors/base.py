"""What every executor is to the driver (``Executor``) and what it hands back (``Finished``), apart from
the executors themselves so that they can import it without importing each other."""
from __future__ import annotations

from typing import Protocol

from ..worker import UnitOutcome, UnitTask

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
