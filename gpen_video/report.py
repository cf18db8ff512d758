"""The run report: a JSON file for machines, a progress bar and a summary table for people."""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .batch import BatchResult, InputRecord
from .batch.manifest import DONE, FAILED, RUNNING
from .engine import PipelineStats
from .job import JobResult
from .live_result import LiveResult
from .media.output import write_json_atomic


def software_versions() -> dict[str, str]:
    import av
    import numpy
    import torch

    return {
        "gpen-video": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
        "numpy": numpy.__version__,
    }


def _reduction(before: float | None, after: float | None) -> float | None:
    return 1.0 - after / before if before and after is not None else None


def build_report(result: JobResult) -> dict[str, Any]:
    """Everything a run did: settings, per-frame faces and tracks, stage timings, metrics, versions."""
    stats = result.stats
    flicker_before, flicker_after = stats.flicker_restored.value, stats.flicker_blended.value
    steps_detected, steps_smoothed = stats.landmark_step_detected.value, stats.landmark_step_smoothed.value
    return {
        "input": result.source,
        "output": result.output,
        "kind": result.kind,
        "seconds": round(result.seconds, 3),
        "frames": stats.frames,
        "faces": stats.faces,
        "tracks": len(stats.track_ids),
        "scene_cuts": stats.scene_cuts,
        "fps": round(stats.frames / result.seconds, 3) if result.seconds else None,
        "stage_seconds": {k: round(v, 4) for k, v in stats.stage_seconds.items()},
        "media": result.media,
        "metrics": {
            # Mean absolute change (0-255) of each track's aligned face between consecutive frames.
            "temporal_flicker_restored": flicker_before,
            "temporal_flicker_blended": flicker_after,
            "temporal_flicker_reduction": _reduction(flicker_before, flicker_after),
            # Mean landmark movement (pixels) between consecutive frames of a track.
            "landmark_step_detected": steps_detected,
            "landmark_step_smoothed": steps_smoothed,
            "landmark_jitter_reduction": _reduction(steps_detected, steps_smoothed),
            # Output face boxes against the input, dB (capped at 100): fidelity with --restorer none.
            "face_psnr_vs_input": stats.face_psnr.value,
        },
        "settings": result.settings.to_dict(),
        "versions": software_versions(),
        "per_frame": stats.per_frame,
    }


def write_report(path: str | Path, report: dict[str, Any]) -> None:
    """Write the JSON report atomically, so a reader never sees half a file; an existing one is replaced."""
    write_json_atomic(path, report)


class _RateColumn(ProgressColumn):
    """Frames/s and faces/s since the start."""

    def __init__(self, stats_ref: dict[str, PipelineStats]) -> None:
        super().__init__()
        self._stats_ref = stats_ref

    def render(self, task: Task) -> Text:
        stats = self._stats_ref.get("stats")
        if stats is None or not task.elapsed:
            return Text("")
        elapsed = task.elapsed
        return Text(f"{stats.frames / elapsed:5.1f} fps  {stats.faces / elapsed:6.1f} faces/s", style="cyan")


class _ProgressDisplay:
    """A rich ``Progress`` (None when quiet) shown for the duration of a ``with`` block."""

    _progress: Progress | None

    def __enter__(self):
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


class ProgressView(_ProgressDisplay):
    """A rich progress bar: frames done, fps, faces/s and ETA. Silent when ``quiet``."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self._stats_ref: dict[str, PipelineStats] = {}
        self._progress = None if quiet else Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} frames"),
            _RateColumn(self._stats_ref),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = None

    def start(self, total: int | None, description: str = "enhancing") -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(description, total=total)

    def update(self, stats: PipelineStats) -> None:
        self._stats_ref["stats"] = stats
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=stats.frames)


def print_summary(console: Console, result: JobResult) -> None:
    """The end-of-run table: frames, faces, tracks, packets, time per stage, output path."""
    report = build_report(result)
    table = Table(title="gpen-video", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("output", result.output)
    table.add_row("frames", str(report["frames"]))
    table.add_row("faces", str(report["faces"]))
    table.add_row("tracks", str(report["tracks"]))
    reader = result.media.get("reader", {})
    writer = result.media.get("writer", {})
    if reader:
        table.add_row("corrupt packets skipped", str(reader.get("corrupt_packets", 0)))
    if writer:
        table.add_row("audio packets copied", str(writer.get("audio_packets", 0)))
        table.add_row("packets dropped (bad DTS)", str(writer.get("dropped_packets", 0)))
    table.add_row("time", f"{result.seconds:.1f} s ({report['fps'] or 0:.2f} fps)")
    for stage, seconds in report["stage_seconds"].items():
        table.add_row(f"  {stage}", f"{seconds:.2f} s")
    metrics = report["metrics"]
    if metrics["landmark_jitter_reduction"] is not None:
        table.add_row("landmark motion cut by smoothing", f"{metrics['landmark_jitter_reduction']:.0%}")
    if metrics["temporal_flicker_reduction"] is not None:
        table.add_row("face flicker cut by blending", f"{metrics['temporal_flicker_reduction']:.0%}")
    console.print(table)


def print_live_summary(console: Console, result: LiveResult) -> None:
    """The end-of-run table of a live run: why it stopped, frames shown and dropped, fps, latency."""
    lat = result.latency
    table = Table(title="gpen-video live", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("source", result.source)
    table.add_row("stopped", result.stopped)
    table.add_row("recording", result.output or "none")
    table.add_row("frames shown", str(result.frames))
    table.add_row("frames dropped", f"{result.dropped} of {result.captured} captured")
    table.add_row("faces", str(result.stats.faces))
    if lat.get("fps"):
        table.add_row("fps", f"{lat['fps']:.1f}")
    if "p50" in lat:
        table.add_row("latency p50 / p95 / max", f"{lat['p50'] * 1000:.0f} / {lat['p95'] * 1000:.0f} / "
                                                  f"{lat['max'] * 1000:.0f} ms")
    if result.attempts:
        table.add_row("reconnects", f"{result.reconnects} of {result.attempts} attempt(s)")
    for note in result.notes:
        table.add_row("note", note)
    table.add_row("time", f"{result.seconds:.1f} s")
    console.print(table)


class BatchProgressView(_ProgressDisplay):
    """Batch progress: one bar for the frames of all inputs together, one row per input with its state.

    A ``gpen_video.batch.BatchListener`` (``run_batch`` calls ``start`` and ``update``).
    """

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self._progress = None if quiet else Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} frames"),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._total: TaskID | None = None
        self._rows: dict[str, TaskID] = {}
        self._done: dict[str, int] = {}

    def start(self, inputs: list[InputRecord]) -> None:
        if self._progress is None:
            return
        total = sum(r.frames for r in inputs)
        self._total = self._progress.add_task("[bold]all inputs", total=total or None, status=f"{len(inputs)} files")
        for record in inputs:
            self._done[record.key] = 0
            self._rows[record.key] = self._progress.add_task(
                f"  {Path(record.source).name}", total=record.frames or None, status=_batch_status(record))

    def update(self, record: InputRecord, frames_done: int) -> None:
        if self._progress is None or record.key not in self._rows:
            return
        self._done[record.key] = frames_done
        self._progress.update(self._rows[record.key], completed=frames_done, status=_batch_status(record))
        self._progress.update(self._total, completed=sum(self._done.values()))


def _batch_status(record: InputRecord) -> str:
    if record.skipped:
        return "[green]done earlier"
    if record.state == FAILED:
        return "[red]failed"
    if record.state == DONE:
        return "[green]done"
    finished = sum(u.state == DONE for u in record.units)
    running = sum(u.state == RUNNING for u in record.units)
    parts = f"{finished}/{len(record.units)} parts" if len(record.units) > 1 else ""
    return f"{'running' if running else 'queued'} {parts}".strip()


def print_batch_summary(console: Console, result: BatchResult) -> None:
    """The end-of-batch table: one row per input with state, frames, parts, attempts, time, output or error."""
    table = Table(title=f"gpen-video batch ({result.seconds:.1f} s, manifest {result.manifest})")
    for column in ("input", "state", "frames", "parts", "attempts", "time", "output / error"):
        table.add_column(column)
    for record in result.inputs:
        state = "done earlier" if record.skipped else record.state
        frames = sum(u.frames for u in record.units)
        attempts = sum(u.attempts for u in record.units)
        table.add_row(Path(record.source).name, state, str(frames), str(len(record.units)), str(attempts),
                      f"{record.seconds:.1f} s", record.error or record.output)
    console.print(table)
