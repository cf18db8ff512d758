"""The batch driver: plan, keep the executor busy, record outcomes, join finished inputs, report progress.

The manifest is saved after every state change, and once more when the run ends or is interrupted
(running units and their inputs are then marked pending again), so the next run resumes from it.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from ..config import Settings
from ..protocols import ProgressListener
from ..types import Progress
from ..review.provenance import output_tags
from .executors import Executor, make_executor
from .join import finish_input
from .manifest import DONE, FAILED, PENDING, RUNNING, BatchPaths, InputRecord, Manifest, UnitRecord
from .options import BatchOptions
from .plan import collect_inputs, settings_fingerprint
from .resume import load_manifest, plan_run, remove_half_written
from .worker import UnitOutcome, UnitRunner, UnitTask, count_attempts, run_unit

POLL_SECONDS = 0.2  # how long the driver waits for a unit before it refreshes the progress


@dataclass
class BatchResult:
    """What a batch run did, input by input (in the order given), in ``seconds`` of wall time."""

    inputs: list[InputRecord]
    seconds: float
    manifest: Path

    @property
    def failed(self) -> list[InputRecord]:
        return [r for r in self.inputs if r.state != DONE]


def _preflight(settings: Settings) -> None:
    """Fail before any work when the weights are missing (exit 3), not once per unit; settle the backend
    here too, so that a first CPU run measures the CPU once, not in every worker at the same time."""
    if settings.restore.restorer == "gpen":
        from ..models.weights import resolve_weights
        from ..restore import resolve_backend

        resolve_backend(settings.restore, resolve_weights(settings.restore.model, settings.restore.weights))


class BatchRun:
    """One invocation of a batch: plan, run the units, join, finalise; the manifest keeps the state.

    Raises (on construction):
        InputError: no inputs found; InvalidOption: an option out of range.
    """

    def __init__(self, inputs: Sequence[str | Path], settings: Settings, options: BatchOptions,
                 progress: ProgressListener | None = None, runner: UnitRunner = run_unit) -> None:
        self.settings = settings
        self.options = options
        self.progress = progress
        self.runner = runner
        self.paths = BatchPaths.under(options.out_dir)
        self.sources = collect_inputs(inputs, exclude=self.paths.out_dir)
        options.validate()
        self.fingerprint = settings_fingerprint(settings, options)
        self.done_frames: dict[str, int] = {}  # per input key: frames of finished units
        self.live: dict[str, int] = {}  # per unit id: frames written so far by a running unit

    def run(self) -> BatchResult:
        began = time.perf_counter()
        _preflight(self.settings)
        self.paths.work_dir.mkdir(parents=True, exist_ok=True)
        manifest = load_manifest(self.paths.manifest, self.fingerprint)
        manifest.runs += 1
        records = plan_run(manifest, self.sources, self.paths, self.settings, self.options)
        remove_half_written(self.paths.work_dir)
        manifest.save(self.paths.manifest)
        for record in records:
            self.done_frames[record.key] = sum(u.frames for u in record.units if u.state == DONE)
        for record in records:  # every input once before any unit runs: the view learns the plan
            self._tell(record, self.done_frames[record.key])
        for record in records:
            if record.state == PENDING and all(u.state == DONE for u in record.units):
                # parts done in an earlier run, join was interrupted
                self._finish(record)
                manifest.save(self.paths.manifest)
        todo = [(r, u) for r in records if r.state == PENDING for u in r.units if u.state != DONE]
        if todo:
            executor = make_executor(self.options, len(todo), self.runner)
            try:
                self._drive(executor, todo, manifest)
            except BaseException:
                executor.close(cancel=True)
                remove_half_written(self.paths.work_dir)  # from workers killed before they could clean up
                for record, unit in todo:  # what the next run takes up again
                    if unit.state == RUNNING:
                        unit.state = PENDING
                    if record.state == RUNNING:
                        record.state = PENDING
                manifest.save(self.paths.manifest)
                raise
            executor.close(cancel=False)
        manifest.save(self.paths.manifest)
        return BatchResult(records, time.perf_counter() - began, self.paths.manifest)

    def _drive(self, executor: Executor, todo: list[tuple[InputRecord, UnitRecord]], manifest: Manifest) -> None:
        owner = {unit.id: (record, unit) for record, unit in todo}
        records = list({id(r): r for r, _ in todo}.values())
        queue = list(todo)
        while queue or executor.in_flight():
            submitted = False
            while queue and executor.in_flight() < executor.capacity:
                record, unit = queue.pop(0)
                unit.state = RUNNING
                record.state = RUNNING if record.state == PENDING else record.state
                gallery = str(self.paths.work_dir / unit.gallery_part) if self.options.faces_out is not None else None
                executor.submit(UnitTask(unit, record.source, str(self.paths.work_dir / unit.part), self.settings,
                                         gallery))
                submitted = True
            if submitted:
                manifest.save(self.paths.manifest)
            finished = executor.wait(POLL_SECONDS)
            self.live.update(executor.progress())
            for unit_id, outcome in finished:
                record, unit = owner[unit_id]
                self._record(record, unit, outcome, manifest.runs)
                manifest.save(self.paths.manifest)
            self._report(owner, records)

    def _record(self, record: InputRecord, unit: UnitRecord, outcome: UnitOutcome | BaseException, run: int) -> None:
        """Store a finished unit's outcome; join its input when that was its last unit."""
        unit.attempts = count_attempts(self.paths.work_dir / unit.part)
        if isinstance(outcome, UnitOutcome):
            unit.state, unit.frames, unit.seconds, unit.run = DONE, outcome.frames, outcome.seconds, run
            unit.error = None
            record.seconds += outcome.seconds
            self.done_frames[record.key] += outcome.frames
        else:
            unit.state, unit.error = FAILED, _one_line(outcome)
            record.state, record.error = FAILED, f"{unit.id}: {unit.error}"
        if record.state != FAILED and all(u.state == DONE for u in record.units):
            self._finish(record)

    def _finish(self, record: InputRecord) -> None:
        finish_input(record, self.paths.work_dir, overwrite=self.options.overwrite, tags=output_tags(self.settings),
                     faces_out=self.options.faces_out)

    def _report(self, owner: dict[str, tuple[InputRecord, UnitRecord]], records: list[InputRecord]) -> None:
        """Report each input's frames: its finished units' and what its running units wrote so far."""
        running: dict[str, int] = defaultdict(int)
        for unit_id, frames in self.live.items():
            if unit_id in owner and owner[unit_id][1].state == RUNNING:
                running[owner[unit_id][0].key] += frames
        for record in records:
            self._tell(record, self.done_frames[record.key] + running[record.key])

    def _tell(self, record: InputRecord, frames_done: int) -> None:
        """One ``Progress`` for ``record``: ``item`` is its source path, ``detail`` its state in words."""
        if self.progress is not None:
            self.progress(Progress(done=frames_done, total=record.frames or None, seconds=record.seconds,
                                   item=record.source, detail=input_status(record)))


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".strip()


def run_batch(inputs: Sequence[str | Path], settings: Settings, options: BatchOptions, *,
              progress: ProgressListener | None = None, runner: UnitRunner = run_unit) -> BatchResult:
    """Enhance every video in ``inputs`` (files, folders, globs) into ``options.out_dir``.

    Args:
        progress: called with every input's ``Progress`` once planned, then about every 0.2 s while
            units run (``item`` is the input's source path); None: nothing is reported.
        runner: runs one unit in a worker process; picklable (see ``worker.UnitRunner``).

    Raises:
        InputError: no inputs; InvalidOption: an option out of range; MissingExtra: Ray asked for but
        missing; WeightsError: no weights; Interrupted / KeyboardInterrupt: stopped (the manifest
        keeps what was finished).
    """
    return BatchRun(inputs, settings, options, progress, runner).run()


def input_status(record: InputRecord) -> str:
    """An input's state in a few words: "done earlier", "failed", "done", "running 2/5 parts", "queued"."""
    if record.skipped:
        return "done earlier"
    if record.state in (FAILED, DONE):
        return record.state
    finished = sum(u.state == DONE for u in record.units)
    running = sum(u.state == RUNNING for u in record.units)
    parts = f"{finished}/{len(record.units)} parts" if len(record.units) > 1 else ""
    return f"{'running' if running else 'queued'} {parts}".strip()
