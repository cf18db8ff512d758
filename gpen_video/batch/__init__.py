"""Batch jobs: many videos and long videos, split on keyframes, run by local processes or on Ray, resumable.

A batch is planned into *units* (``plan``). A video no longer than ``segment_seconds`` is one
``whole`` unit (``job.enhance_video`` into a part file, renamed onto the output when done, so the
output equals a single ``gpen-video`` run). A longer one is cut at keyframes into ``segment`` units;
each decodes a few warm-up frames before its window so tracks, smoothing and blending carry across
the cut, writes its window video-only (``worker``), and the parts are joined by packet copy with the
source's audio muxed once (``join``, ``media.concat``).

State lives in ``<out-dir>/gpen-batch.json`` (``manifest``) and part files under
``<out-dir>/.gpen-batch/``. Running the same command again skips finished units and outputs
(``resume``). Units run on an ``Executor`` (``executors``: local processes or Ray tasks); a failed
unit is retried ``retries`` times; an input whose unit still fails, or that cannot be read, is
reported and the rest of the batch goes on (``driver``).
"""
from __future__ import annotations

from .driver import BatchResult, BatchRun, input_status, run_batch
from .executors import Executor
from .executors.ray import import_ray
from .manifest import MANIFEST_NAME, WORK_DIR_NAME, InputRecord, Manifest, UnitRecord
from .options import BatchOptions
from .plan import collect_inputs, input_key
from .worker import ProgressFn, UnitOutcome, UnitRunner, UnitTask, run_unit

__all__ = [
    "MANIFEST_NAME",
    "WORK_DIR_NAME",
    "BatchOptions",
    "BatchResult",
    "BatchRun",
    "Executor",
    "InputRecord",
    "Manifest",
    "ProgressFn",
    "UnitOutcome",
    "UnitRecord",
    "UnitRunner",
    "UnitTask",
    "collect_inputs",
    "import_ray",
    "input_key",
    "input_status",
    "run_batch",
    "run_unit",
]
