"""`gpen-video` with a batch unit runner that fails one unit once: the fault injection of the retry tests.

    python tests/batch/faults.py fail|kill UNIT_ID MARKER GPEN-VIDEO-ARGS...

The first attempt at unit UNIT_ID finds MARKER missing, creates it and fails: ``fail`` raises in the
unit, ``kill`` SIGKILLs the worker process running it (as the OOM killer would). Every other attempt
is the real ``run_unit``. Everything else is the real command (``gpen_video.cli.main``): its
options, messages and exit code.
"""
from __future__ import annotations

import functools
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import gpen_video.batch
from gpen_video.batch import ProgressFn, UnitOutcome, UnitTask, run_unit
from gpen_video.cli import main


@dataclass(frozen=True)
class FailOnce:
    """A picklable unit runner: ``run_unit``, except that ``unit_id``'s first attempt fails (or kills its worker)."""

    unit_id: str
    marker: str
    kill: bool

    def __call__(self, task: UnitTask, progress: ProgressFn | None = None) -> UnitOutcome:
        if task.unit.id == self.unit_id and not os.path.exists(self.marker):
            Path(self.marker).touch()
            if self.kill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected fault in {task.unit.id}")
        return run_unit(task, progress)


def faulty_cli(mode: str, unit_id: str, marker: Path) -> tuple[str, ...]:
    """The program arguments (for ``tests.helpers.cli.run_cli(program=...)``) of a CLI whose ``unit_id`` fails once."""
    return (__file__, mode, unit_id, str(marker))


if __name__ == "__main__":
    mode, unit_id, marker, *argv = sys.argv[1:]
    runner = FailOnce(unit_id, marker, kill=mode == "kill")
    gpen_video.batch.run_batch = functools.partial(gpen_video.batch.run_batch, runner=runner)
    sys.exit(main(argv))
