"""How a batch runs: the options of one batch invocation and their ranges."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidOption


@dataclass
class BatchOptions:
    """How a batch runs.

    Attributes:
        out_dir: folder for the outputs, the manifest and the part files (created if missing).
        ray: None for local processes; "auto" (an existing cluster, ``RAY_ADDRESS`` or the one on this
            machine), "local" (start one in this process) or a cluster address ("host:6379", "ray://...").
        workers: units in flight at once, >= 1; None: locally 1 without GPUs, else one per 4 cores
            with 1 to 4 per GPU (``executors.local.default_workers``); on Ray every GPU (or CPU) slot.
        segment_seconds: videos longer than this (seconds, > 0) are split at keyframes into segments
            about this long.
        warmup: frames (>= 0) decoded before each segment to prime tracking and blending (not written).
        retries: extra attempts (>= 0) for a failed unit.
        overwrite: replace outputs that this batch did not finish itself.
        faces_out: folder for the face galleries (one subfolder per input, named by its key, and an
            ``index.html`` linking them); None: no gallery.
    """

    out_dir: str | Path
    ray: str | None = None
    workers: int | None = None
    segment_seconds: float = 300.0
    warmup: int = 16
    retries: int = 2
    overwrite: bool = False
    faces_out: str | Path | None = None

    def validate(self) -> None:
        """Check the numeric options' ranges.

        Raises:
            InvalidOption: the first option out of range, named by its field.
        """
        if self.segment_seconds <= 0:
            raise InvalidOption("segment_seconds", self.segment_seconds, "positive")
        if self.workers is not None and self.workers < 1:
            raise InvalidOption("workers", self.workers, "at least 1")
        for name, value in (("warmup", self.warmup), ("retries", self.retries)):
            if value < 0:
                raise InvalidOption(name, value, "0 or more")
