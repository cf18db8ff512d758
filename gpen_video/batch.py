"""Batch jobs: many videos and long videos, split on keyframes, run by local processes or on Ray, resumable.

A batch is planned into *units*. A video no longer than ``segment_seconds`` is one ``whole`` unit
(``job.enhance_video`` into a part file, renamed onto the output when done, so the output equals a
single ``gpen-video`` run). A longer one is cut at keyframes into ``segment`` units; each decodes a
few warm-up frames before its window so tracks, smoothing and blending carry across the cut, writes
its window video-only, and the parts are joined by packet copy with the source's audio muxed once
(``media.concat``).

State lives in ``<out-dir>/gpen-batch.json`` (the manifest, rewritten atomically after every change)
and part files under ``<out-dir>/.gpen-batch/``. Running the same command again skips finished units
and outputs. Units that fail are retried ``retries`` times (Ray's ``max_retries`` on Ray, a retry
loop locally); an input whose unit still fails, or that cannot be read, is reported and the rest of
the batch goes on.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import shutil
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import GpenVideoError, InputError
from .media.keyframes import Segment, index_frames, plan_segments, reader_window
from .media.output import TEMP_MARK, check_destination

MANIFEST_NAME = "gpen-batch.json"
WORK_DIR_NAME = ".gpen-batch"
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts",
                              ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv", ".mxf"})
FAULT_ENV = "GPEN_VIDEO_FAULT"  # "[kill:]<unit id>@<marker file>": that unit fails once (testing retries);
# with "kill:" its worker process dies (SIGKILL, like the OOM killer) instead of raising
EXIT_SOME_FAILED = 5

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
ProgressFn = Callable[[str, int], None]


@dataclass
class BatchOptions:
    """How a batch runs.

    Attributes:
        out_dir: folder for the outputs, the manifest and the part files (created if missing).
        ray: None for local processes; "auto" (an existing cluster, ``RAY_ADDRESS`` or the one on this
            machine), "local" (start one in this process) or a cluster address ("host:6379", "ray://...").
        workers: units in flight at once; None: one per GPU locally (1 without GPUs), every GPU (or CPU)
            slot of the Ray cluster.
        segment_seconds: videos longer than this are split at keyframes into segments about this long.
        warmup: frames decoded before each segment to prime tracking and blending (not written).
        retries: extra attempts for a failed unit.
        overwrite: replace outputs that this batch did not finish itself.
    """

    out_dir: Path
    ray: str | None = None
    workers: int | None = None
    segment_seconds: float = 300.0
    warmup: int = 16
    retries: int = 2
    overwrite: bool = False


@dataclass
class UnitRecord:
    """One unit of work in the manifest. Frame indices count the source's frames in presentation order."""

    id: str
    kind: str  # "whole" or "segment"
    part: str  # part file, relative to the work folder
    warm: int = 0
    start: int = 0
    end: int = 0
    window: tuple[float | None, float | None] = (None, None)  # VideoReader start/end, seconds
    first_pts: int | None = None  # source pts of the first written frame (segments)
    state: str = PENDING
    attempts: int = 0
    frames: int = 0  # frames written
    seconds: float | None = None  # wall time of the successful attempt
    run: int | None = None  # the run (1, 2, ...) that finished it
    error: str | None = None


@dataclass
class InputRecord:
    """One input file: where it goes, its plan and its state."""

    source: str
    output: str
    key: str
    size: int
    mtime_ns: int
    state: str = PENDING
    error: str | None = None
    frames: int = 0  # frames the units will write
    time_base: str | None = None
    fps: str | None = None
    units: list[UnitRecord] = field(default_factory=list)
    seconds: float = 0.0  # summed unit wall time (all runs)
    skipped: bool = False  # already done before this run

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputRecord:
        units = [UnitRecord(**{**u, "window": tuple(u["window"])}) for u in data.get("units", [])]
        return cls(**{**data, "units": units})


@dataclass
class Manifest:
    """The job's state file (JSON). ``fingerprint`` ties it to the settings that produced the parts."""

    fingerprint: str
    runs: int = 0
    inputs: dict[str, InputRecord] = field(default_factory=dict)
    version: int = 1

    def save(self, path: Path) -> None:
        from .report import write_report  # atomic JSON writer

        data = {"version": self.version, "fingerprint": self.fingerprint, "runs": self.runs,
                "inputs": [dataclasses.asdict(r) for r in self.inputs.values()]}
        write_report(path, data)

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        """The manifest at ``path``, or None when there is none or it is unreadable (then the job starts over)."""
        try:
            data = json.loads(path.read_text())
            inputs = {r["source"]: InputRecord.from_dict(r) for r in data["inputs"]}
            return cls(data["fingerprint"], data["runs"], inputs, data.get("version", 1))
        except (OSError, ValueError, KeyError, TypeError):
            return None


@dataclass
class BatchResult:
    """What a batch run did, input by input (in the order given)."""

    inputs: list[InputRecord]
    seconds: float
    manifest: Path

    @property
    def failed(self) -> list[InputRecord]:
        return [r for r in self.inputs if r.state != DONE]

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.failed else 0


# ------------------------------------------------------------------------------------- inputs


def collect_inputs(inputs: Sequence[str | Path], exclude: str | Path | None = None) -> list[tuple[Path, Path]]:
    """Expand files, folders (recursively, video extensions only) and globs.

    Args:
        exclude: a folder whose files are never inputs (the batch's out-dir: it may lie inside an
            input folder, and its outputs must not be read back as inputs on the next run).

    Returns:
        ``(source, relative output name)`` pairs, sources absolute and unique, in a stable order.
        Files in a folder keep their path below it, so same-named files in subfolders do not collide.

    Raises:
        InputError: an input matches nothing, or nothing at all is found.
    """
    skip = Path(exclude).expanduser().resolve() if exclude is not None else None
    found: dict[Path, Path] = {}
    for item in map(str, inputs):
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
                           and WORK_DIR_NAME not in p.parts)
            pairs = [(p, p.relative_to(path)) for p in files]
        elif path.is_file():
            pairs = [(path, Path(path.name))]
        else:
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True))
            if not matches:
                raise InputError(f"input not found: {item}")
            pairs = [(p, Path(p.name)) for p in matches if p.is_file()]
        for source, name in pairs:
            if skip is None or not source.resolve().is_relative_to(skip):  # resolved: links and ".." too
                found.setdefault(source.absolute(), name)
    if not found:
        raise InputError("no video files found in the inputs")
    return list(found.items())


def input_key(source: str | Path) -> str:
    """A stable, readable id for an input: its stem and a hash of its absolute path."""
    path = Path(source).absolute()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem)[:40]
    return f"{stem}-{digest}"


def _stable_json(data: Any) -> str:
    """The same settings always give the same text (fingerprints, engine cache key)."""
    return json.dumps(data, sort_keys=True, default=str)


def settings_fingerprint(settings: Settings, options: BatchOptions) -> str:
    """Hash of everything that changes the pixels of a part file."""
    data = {"settings": settings.to_dict(), "segment_seconds": options.segment_seconds, "warmup": options.warmup}
    data["settings"].pop("live", None)
    return hashlib.sha1(_stable_json(data).encode()).hexdigest()[:16]


def plan_input(source: Path, output: Path, settings: Settings, options: BatchOptions) -> InputRecord:
    """Index ``source``'s keyframes and plan its units (one ``whole`` unit, or keyframe segments).

    Raises:
        MediaOpenError: the file is not a readable video.
    """
    stat = source.stat()
    key = input_key(source)
    record = InputRecord(str(source), str(output), key, stat.st_size, stat.st_mtime_ns)
    index = index_frames(source)
    segments = plan_segments(index, options.segment_seconds, warmup=options.warmup,
                             detect_every=settings.faces.detect_every)
    record.time_base = str(index.time_base)
    record.fps = str(index.fps) if index.fps else None
    record.frames = len(index)
    suffix = output.suffix
    if len(segments) == 1:
        record.units = [UnitRecord(f"{key}.whole", "whole", f"{key}/whole{suffix}", 0, 0, len(index))]
        return record
    for k, segment in enumerate(segments):
        record.units.append(_segment_unit(index, segment, f"{key}.s{k:03d}", f"{key}/s{k:03d}{suffix}"))
    return record


def _segment_unit(index, segment: Segment, unit_id: str, part: str) -> UnitRecord:
    return UnitRecord(unit_id, "segment", part, segment.warm, segment.start, segment.end,
                      reader_window(index, segment), index.pts[segment.start])


# ------------------------------------------------------------------------------------- worker side


@dataclass(frozen=True)
class UnitTask:
    """Everything a worker needs to run one unit (picklable, sent to processes and Ray tasks)."""

    unit: UnitRecord
    source: str
    part: str  # absolute path of the part file
    settings: Settings
    fault: str | None = None  # marker file: fail once if it does not exist yet (testing hook)
    crash: bool = False  # the injected fault kills the worker process instead of raising


@dataclass(frozen=True)
class UnitOutcome:
    unit_id: str
    frames: int
    seconds: float


_ENGINE: tuple[str, Any] | None = None  # (settings, engine) of this worker process: the model loads once


def _engine(settings: Settings):
    from .engine import Engine

    global _ENGINE
    key = _stable_json(settings.to_dict())
    if _ENGINE is None or _ENGINE[0] != key:
        _ENGINE = None  # release the old model before loading the new one
        _ENGINE = (key, Engine(settings))
    return _ENGINE[1]


def _attempts_file(part: str | Path) -> Path:
    return Path(f"{part}.attempts")


def run_unit(task: UnitTask, progress: ProgressFn | None = None) -> UnitOutcome:
    """Run one unit in this process; writes ``task.part`` atomically.

    Each attempt appends a line to ``<part>.attempts`` so the driver can count attempts whichever
    executor retried. Raises whatever the pipeline raises; the executor retries.
    """
    began = time.perf_counter()
    part = Path(task.part)
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(_attempts_file(part), "a") as handle:
        handle.write(f"{os.getpid()} {time.time():.3f}\n")
    if task.fault and not os.path.exists(task.fault):
        Path(task.fault).touch()
        if task.crash:
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError(f"injected fault in {task.unit.id}")
    engine = _engine(task.settings)
    report = (lambda n: progress(task.unit.id, n)) if progress is not None else (lambda n: None)
    if task.unit.kind == "whole":
        frames = _run_whole(task, engine, report)
    else:
        frames = _run_segment(task, engine, report)
    report(frames)
    return UnitOutcome(task.unit.id, frames, time.perf_counter() - began)


def _throttled(report: Callable[[int], None], every: float = 0.5) -> Callable[[int], None]:
    last = [0.0]

    def update(frames: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            report(frames)

    return update


def _run_whole(task: UnitTask, engine, report: Callable[[int], None]) -> int:
    from .job import enhance_video

    update = _throttled(report)
    result = enhance_video(task.source, task.part, task.settings, engine=engine, overwrite=True,
                           on_frame=lambda stats: update(stats.frames))
    return result.stats.frames


def _run_segment(task: UnitTask, engine, report: Callable[[int], None]) -> int:
    """Decode from the warm-up frame, enhance, write only frames at or after the segment start."""
    from .media.open import open_reader, open_writer
    from .media.signals import interrupts_as_exceptions

    unit, encode = task.unit, task.settings.encode
    expected = unit.end - unit.start
    update = _throttled(report)
    written = 0
    start, end = unit.window
    with interrupts_as_exceptions(), open_reader(task.source, encode, start=start, end=end) as reader:
        with open_writer(task.part, reader.info, encode, overwrite=True) as writer:
            for result in engine.stream(reader):
                frame = result.frame
                if frame.pts is None or frame.pts < unit.first_pts:
                    continue  # warm-up: primes tracks and blending, not written
                if written == 0 and frame.pts != unit.first_pts:
                    raise GpenVideoError(f"{unit.id}: first frame has pts {frame.pts}, expected {unit.first_pts}")
                writer.write(replace(frame, image=result.enhanced))
                written += 1
                update(written)
            if written != expected:
                raise GpenVideoError(f"{unit.id}: decoded {written} frames, expected {expected}")
    return written


# ------------------------------------------------------------------------------------- executors


class _LocalExecutor:
    """Worker processes (spawned, so CUDA and threads start clean), a retry loop in the driver.

    A worker that dies (OOM kill, segfault) breaks the whole pool: every unit in flight fails with
    ``BrokenProcessPool``. The pool is then replaced and those units go round the retry loop like any
    other failure, each charged one attempt.
    """

    def __init__(self, workers: int, retries: int) -> None:
        import multiprocessing

        import torch

        self._context = multiprocessing.get_context("spawn")
        self._workers = workers
        self._gpus = torch.cuda.device_count()
        self._threads = max(1, (os.cpu_count() or 1) // workers)
        self._retries = retries
        self._futures: dict[Any, tuple[UnitTask, int, Any]] = {}  # future: (task, attempt, its pool)
        self.capacity = workers
        self._pool, self._progress = self._start()

    def _start(self) -> tuple[Any, Any]:
        """A new pool with its own queues: a killed worker may have left the old ones locked."""
        from concurrent.futures import ProcessPoolExecutor

        progress, slots = self._context.Queue(), self._context.Queue()
        for k in range(self._workers):
            slots.put(k % self._gpus if self._gpus else None)
        pool = ProcessPoolExecutor(self._workers, mp_context=self._context, initializer=_local_init,
                                   initargs=(progress, slots, self._threads))
        return pool, progress

    def _restart(self) -> None:
        for process in _pool_workers(self._pool):  # stragglers could block on the broken pool's queues
            process.kill()
        self._pool.shutdown(wait=False)  # its futures all fail with BrokenProcessPool, none is cancelled
        self._progress.close()
        self._pool, self._progress = self._start()

    def submit(self, task: UnitTask, attempt: int = 1) -> None:
        from concurrent.futures.process import BrokenProcessPool

        try:
            future = self._pool_submit(task)
        except BrokenProcessPool:  # broke since the last wait; its futures come back failed there
            self._restart()
            future = self._pool_submit(task)
        self._futures[future] = (task, attempt, self._pool)

    def _pool_submit(self, task: UnitTask):
        """Submit with SIGINT blocked: workers are spawned in ``submit`` and inherit the mask, in every thread.

        Ctrl-C reaches the whole process group, but the driver decides what an interrupt stops (it
        terminates the workers). Blocked, not ignored, because the unit code installs its own SIGINT
        handler; and blocked from the start, because threads a worker starts on import (numpy's) would
        not inherit a mask set later in ``_local_init``. A Ctrl-C during this call reaches the driver after it.
        """
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return self._pool.submit(_local_entry, task)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def in_flight(self) -> int:
        return len(self._futures)

    def wait(self, timeout: float) -> list[tuple[str, UnitOutcome | BaseException]]:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures
        from concurrent.futures.process import BrokenProcessPool

        done, _ = wait_futures(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        finished = []
        for future in done:
            task, attempt, pool = self._futures.pop(future)
            error = future.exception()
            if isinstance(error, BrokenProcessPool) and pool is self._pool:
                self._restart()  # once per broken pool: its other futures fail the same way
            if error is None:
                finished.append((task.unit.id, future.result()))
            elif attempt <= self._retries:
                self.submit(task, attempt + 1)
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
        if cancel:
            for future in self._futures:
                future.cancel()
            for process in _pool_workers(self._pool):  # stop them now; the units abort on SIGTERM
                process.terminate()
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


def _pool_workers(pool) -> list:
    """The pool's own worker processes (``ProcessPoolExecutor`` has no public way before Python 3.14)."""
    return list((pool._processes or {}).values())


_LOCAL_PROGRESS: Any = None


def _local_init(progress, slots, threads: int) -> None:
    """Worker process start: progress queue, one GPU per worker, a fair share of CPU threads."""
    global _LOCAL_PROGRESS
    _LOCAL_PROGRESS = progress  # SIGINT is blocked in workers (see _LocalExecutor._pool_submit)
    gpu = slots.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    import torch

    torch.set_num_threads(threads)


def _local_entry(task: UnitTask) -> UnitOutcome:
    return run_unit(task, lambda unit_id, n: _LOCAL_PROGRESS.put((unit_id, n)))


class _ProgressBoard:
    """Ray actor: the latest frame count of every unit, written by tasks, read by the driver."""

    def __init__(self) -> None:
        self.frames: dict[str, int] = {}

    def update(self, unit_id: str, frames: int) -> None:
        self.frames[unit_id] = frames

    def snapshot(self) -> dict[str, int]:
        return dict(self.frames)


def _ray_entry(task: UnitTask, board) -> UnitOutcome:
    return run_unit(task, lambda unit_id, n: board.update.remote(unit_id, n))


def import_ray():
    """Import Ray, or explain how to install it (exit code 2)."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'gpen-video[ray]'") from None
    return ray


class _RayExecutor:
    """Each unit is a Ray task (``num_gpus=1`` where the cluster has GPUs); Ray retries failed tasks."""

    def __init__(self, address: str, workers: int | None, retries: int) -> None:
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
        self._remote = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_retries=retries,
                                  retry_exceptions=True)(_ray_entry)
        self._board = ray.remote(num_cpus=0)(_ProgressBoard).remote()
        self._refs: dict[Any, UnitTask] = {}

    def submit(self, task: UnitTask) -> None:
        self._refs[self._remote.remote(task, self._board)] = task

    def in_flight(self) -> int:
        return len(self._refs)

    def wait(self, timeout: float) -> list[tuple[str, UnitOutcome | BaseException]]:
        if not self._refs:
            time.sleep(timeout)
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        finished = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                finished.append((task.unit.id, self._ray.get(ref)))
            except Exception as exc:  # noqa: BLE001 - the task's error, after Ray's retries
                finished.append((task.unit.id, getattr(exc, "cause", None) or exc))
        return finished

    def progress(self) -> dict[str, int]:
        return self._ray.get(self._board.snapshot.remote())

    def close(self, cancel: bool) -> None:
        if cancel:
            for ref in self._refs:
                self._ray.cancel(ref, force=True)
        if self._owns:
            self._ray.shutdown()


# ------------------------------------------------------------------------------------- driver


class _Listener:
    """What the driver tells a progress view; every method is optional to implement."""

    def start(self, inputs: list[InputRecord]) -> None: ...

    def update(self, record: InputRecord, frames_done: int) -> None: ...


def _default_workers() -> int:
    import torch

    return max(1, torch.cuda.device_count())


def _preflight(settings: Settings) -> None:
    """Fail before any work when the weights are missing (exit 3), not once per unit."""
    if settings.restore.restorer == "gpen":
        from .models.weights import resolve_weights

        resolve_weights(settings.restore.model, settings.restore.weights)


def _fault_for(unit_id: str) -> tuple[str | None, bool]:
    """The testing hook for this unit: (marker file or None, whether the fault kills the worker)."""
    spec = os.environ.get(FAULT_ENV, "")
    target, _, marker = spec.partition("@")
    crash = target.startswith("kill:")  # ":" never occurs in a unit id
    if target.removeprefix("kill:") != unit_id or not marker:
        return None, False
    return marker, crash


class BatchRun:
    """One invocation of a batch: plan, run the units, join, finalise; the manifest keeps the state."""

    def __init__(self, inputs: Sequence[str | Path], settings: Settings, options: BatchOptions, listener=None) -> None:
        self.settings = settings
        self.options = options
        self.listener = listener or _Listener()
        self.out_dir = Path(options.out_dir).expanduser().absolute()
        self.work_dir = self.out_dir / WORK_DIR_NAME
        self.manifest_path = self.out_dir / MANIFEST_NAME
        self.sources = collect_inputs(inputs, exclude=self.out_dir)
        if options.segment_seconds <= 0:
            raise InputError("--segment-seconds must be positive")
        if options.workers is not None and options.workers < 1:
            raise InputError("--workers must be at least 1")
        if options.warmup < 0 or options.retries < 0:
            raise InputError("--warmup and --retries must not be negative")
        self.fingerprint = settings_fingerprint(settings, options)
        self.done_frames: dict[str, int] = {}  # per input key: frames of finished units
        self.live: dict[str, int] = {}  # per unit id: frames written so far by a running unit

    # -- planning ------------------------------------------------------------------------
    def _load(self) -> Manifest:
        previous = Manifest.load(self.manifest_path)
        if previous is None or previous.fingerprint != self.fingerprint:
            return Manifest(self.fingerprint, previous.runs if previous else 0)
        return previous

    def _plan(self, manifest: Manifest) -> list[InputRecord]:
        records = []
        outputs: dict[str, str] = {}
        for source, name in self.sources:
            output = self.out_dir / name
            if str(output) in outputs:
                raise InputError(f"{source} and {outputs[str(output)]} would both write {output}")
            outputs[str(output)] = str(source)
            record = self._plan_one(manifest, source, output)
            manifest.inputs[record.source] = record
            records.append(record)
        return records

    def _plan_one(self, manifest: Manifest, source: Path, output: Path) -> InputRecord:
        old = manifest.inputs.get(str(source))
        try:
            stat = source.stat()
        except OSError as exc:
            return self._bad(source, output, f"cannot read: {exc}")
        same_source = old is not None and (old.size, old.mtime_ns, old.output) == (stat.st_size, stat.st_mtime_ns, str(output))
        if same_source and old.state == DONE and output.exists():
            old.skipped = True
            return old
        if same_source and old.units:
            old.state, old.error, old.skipped = PENDING, None, False
            for unit in old.units:
                if unit.state != DONE or not (self.work_dir / unit.part).exists():
                    unit.state, unit.error = PENDING, None
            return old
        output.parent.mkdir(parents=True, exist_ok=True)
        try:
            check_destination(output, source=source, overwrite=self.options.overwrite)
            record = plan_input(source, output, self.settings, self.options)
        except GpenVideoError as exc:
            return self._bad(source, output, str(exc))
        shutil.rmtree(self.work_dir / record.key, ignore_errors=True)  # parts from other settings
        return record

    @staticmethod
    def _bad(source: Path, output: Path, error: str) -> InputRecord:
        return InputRecord(str(source), str(output), input_key(source), 0, 0, state=FAILED, error=error)

    # -- running -------------------------------------------------------------------------
    def run(self) -> BatchResult:
        began = time.perf_counter()
        _preflight(self.settings)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        manifest = self._load()
        manifest.runs += 1
        records = self._plan(manifest)
        self._clean_temporaries()
        manifest.save(self.manifest_path)
        for record in records:
            self.done_frames[record.key] = sum(u.frames for u in record.units if u.state == DONE)
        self.listener.start(records)
        for record in records:
            if record.state == PENDING and all(u.state == DONE for u in record.units):
                self._finalise(record)  # parts done in an earlier run, join was interrupted
                manifest.save(self.manifest_path)
        todo = [(r, u) for r in records if r.state == PENDING for u in r.units if u.state != DONE]
        if todo:
            executor = self._executor(len(todo))
            try:
                self._drive(executor, todo, manifest)
            except BaseException:
                executor.close(cancel=True)
                for record, unit in todo:
                    if unit.state == RUNNING:
                        unit.state = PENDING
                manifest.save(self.manifest_path)
                raise
            executor.close(cancel=False)
        manifest.save(self.manifest_path)
        return BatchResult(records, time.perf_counter() - began, self.manifest_path)

    def _executor(self, units: int):
        options = self.options
        if options.ray is not None:
            return _RayExecutor(options.ray, options.workers, options.retries)
        workers = min(units, options.workers or _default_workers())
        return _LocalExecutor(workers, options.retries)

    def _drive(self, executor, todo: list[tuple[InputRecord, UnitRecord]], manifest: Manifest) -> None:
        owner = {unit.id: (record, unit) for record, unit in todo}
        records = list({id(r): r for r, _ in todo}.values())
        queue = list(todo)
        while queue or executor.in_flight():
            submitted = False
            while queue and executor.in_flight() < executor.capacity:
                record, unit = queue.pop(0)
                unit.state = RUNNING
                record.state = RUNNING if record.state == PENDING else record.state
                executor.submit(UnitTask(unit, record.source, str(self.work_dir / unit.part), self.settings,
                                         *_fault_for(unit.id)))
                submitted = True
            if submitted:
                manifest.save(self.manifest_path)
            finished = executor.wait(0.2)
            self.live.update(executor.progress())
            for unit_id, outcome in finished:
                record, unit = owner[unit_id]
                unit.attempts = _count_lines(_attempts_file(self.work_dir / unit.part))
                if isinstance(outcome, UnitOutcome):
                    unit.state, unit.frames, unit.seconds, unit.run = DONE, outcome.frames, outcome.seconds, manifest.runs
                    unit.error = None
                    record.seconds += outcome.seconds
                    self.done_frames[record.key] += outcome.frames
                else:
                    unit.state, unit.error = FAILED, _one_line(outcome)
                    record.state, record.error = FAILED, f"{unit.id}: {unit.error}"
                if record.state != FAILED and all(u.state == DONE for u in record.units):
                    self._finalise(record)
                manifest.save(self.manifest_path)
            running: dict[str, int] = defaultdict(int)
            for unit_id, frames in self.live.items():
                if unit_id in owner and owner[unit_id][1].state == RUNNING:
                    running[owner[unit_id][0].key] += frames
            for record in records:
                self.listener.update(record, self.done_frames[record.key] + running[record.key])

    def _finalise(self, record: InputRecord) -> None:
        """Move a finished input's parts onto its output (rename, or join + audio), atomically."""
        from .media.concat import SegmentFile, concat_segments

        output = Path(record.output)
        try:
            if record.units[0].kind == "whole":
                check_destination(output, source=record.source, overwrite=True)
                os.replace(self.work_dir / record.units[0].part, output)
            else:
                parts = [SegmentFile(self.work_dir / u.part, u.first_pts) for u in record.units]
                concat_segments(parts, output, source=record.source, time_base=Fraction(record.time_base),
                                fps=Fraction(record.fps) if record.fps else None, overwrite=True)
        except GpenVideoError as exc:
            record.state, record.error = FAILED, f"joining: {exc}"
            return
        record.state = DONE
        shutil.rmtree(self.work_dir / record.key, ignore_errors=True)

    def _clean_temporaries(self) -> None:
        """Half-written files of attempts that were killed (their writers could not clean up)."""
        for path in self.work_dir.rglob(f"*{TEMP_MARK}*"):
            path.unlink(missing_ok=True)


def _count_lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except OSError:
        return 0


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".strip()


def run_batch(inputs: Sequence[str | Path], settings: Settings, options: BatchOptions, *, listener=None) -> BatchResult:
    """Enhance every video in ``inputs`` into ``options.out_dir``; see the module docstring.

    Raises:
        InputError: no inputs, bad options, Ray asked for but missing; WeightsError: no weights;
        Interrupted / KeyboardInterrupt: stopped (the manifest keeps what was finished).
    """
    return BatchRun(inputs, settings, options, listener).run()
