"""The run report for people: progress bars while a job, a live run or a batch works, and their summary
tables at the end (``review.report`` writes the JSON)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import BarColumn, ProgressColumn, Task, TaskID, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress
from rich.table import Column, Table
from rich.text import Text

from ..batch import BatchResult
from ..job import JobResult
from ..live.result import LiveResult
from ..types import Progress
from .report import run_summary


class _FramesColumn(ProgressColumn):
    """"12/250 frames", or "12 frames" while the total is not known (the bar then pulses)."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        return Text(f"{done}/{int(task.total)} frames" if task.total is not None else f"{done} frames")


class _RateColumn(ProgressColumn):
    """Frames/s and faces/s since the start."""

    def __init__(self, view: ProgressView, table_column: Column | None = None) -> None:
        super().__init__(table_column)
        self._view = view

    def render(self, task: Task) -> Text:
        latest = self._view.latest
        if latest is None or latest.fps is None:
            return Text("")
        return Text(f"{latest.fps:.1f} fps {latest.faces / latest.seconds:.1f} faces/s", style="cyan")


class _StagesColumn(ProgressColumn):
    """Where the time goes: each pipeline stage's share of the busy seconds so far, largest first."""

    def __init__(self, view: ProgressView, table_column: Column | None = None) -> None:
        super().__init__(table_column)
        self._view = view

    def render(self, task: Task) -> Text:
        latest = self._view.latest
        stages = {k: v for k, v in (latest.stage_seconds if latest else {}).items() if v > 0}
        total = sum(stages.values())
        if not total:
            return Text("")
        shares = sorted(stages.items(), key=lambda kv: kv[1], reverse=True)[:4]
        # Cut short, never wrapped: the stages give way when the line is too narrow for all of them.
        return Text("  ".join(f"{name} {seconds / total:.0%}" for name, seconds in shares), style="dim",
                    no_wrap=True, overflow="ellipsis")


def _kept() -> Column:
    """A progress column shown whole: when the line is too narrow, the bar and the stages give way."""
    return Column(no_wrap=True)


class _ProgressDisplay:
    """A rich ``Progress`` (None when quiet) shown for the duration of a ``with`` block; renders as its bars."""

    _progress: RichProgress | None

    def __rich__(self) -> RenderableType:
        return Text("") if self._progress is None else self._progress.get_renderable()

    def __enter__(self):
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


class ProgressView(_ProgressDisplay):
    """A rich progress bar on one line: frames done, fps, faces/s, ETA and where the time goes. Silent when
    ``quiet``.

    ``update`` is a ``progress.ProgressListener``; the bar appears with the first report.
    """

    def __init__(self, console: Console, *, quiet: bool = False, description: str = "enhancing") -> None:
        self.latest: Progress | None = None
        self._description = description
        self._progress = None if quiet else RichProgress(
            TextColumn("[bold]{task.description}", table_column=_kept()),
            BarColumn(bar_width=16),
            _FramesColumn(table_column=_kept()),
            _RateColumn(self, table_column=_kept()),
            TimeRemainingColumn(compact=True, table_column=_kept()),
            _StagesColumn(self),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def update(self, progress: Progress) -> None:
        self.latest = progress
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task(self._description, total=progress.total)
        self._progress.update(self._task, completed=progress.done)


def print_summary(console: Console, result: JobResult) -> None:
    """The end-of-run table: frames, faces, tracks, packets, time per stage, output path."""
    report = run_summary(result)
    table = Table(title="gpen-video", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("output", result.output)
    if result.gallery is not None:
        table.add_row("face gallery", f"{result.gallery.path / 'index.html'} ({len(result.gallery.tracks)} tracks)")
    table.add_row("frames", str(report["frames"]))
    table.add_row("faces", str(report["faces"]))
    table.add_row("tracks", str(report["tracks"]))
    redaction = report["redaction"]
    if redaction is not None:
        table.add_row("faces hidden", f"{redaction['faces']} in {redaction['frames']} frames, "
                                      f"{len(redaction['bridged_frames'])} frames with a detection gap bridged")
    if result.backend:
        table.add_row("restorer", result.backend)
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
        table.add_row("face fidelity after blending", f"{metrics['temporal_blend_psnr']:.1f} dB PSNR vs unblended")
    if metrics["warp_error_ratio"] is not None:
        table.add_row("face warping error, output / input", _warp_error_text(metrics))
    console.print(table)


def _warp_error_text(metrics: dict[str, Any]) -> str:
    """The run's warping-error ratio, its two terms, and the range over the shots when there are several."""
    text = f"{metrics['warp_error_ratio']:.2f} ({metrics['warp_error_output']:.1f} / {metrics['warp_error_input']:.1f})"
    ratios = [shot["ratio"] for shot in metrics["warp_error_shots"] if shot["ratio"] is not None]
    if len(ratios) > 1:
        text += f", shots {min(ratios):.2f}-{max(ratios):.2f}"
    return text


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
    camera, cam_lat = result.camera, result.camera_latency or {}
    if camera is not None:
        table.add_row("virtual camera", f"{camera.device} {camera.width}x{camera.height} @ {camera.fps:g} fps: "
                                        f"{camera.sent} frames sent, {camera.held} held repeats")
    if "p50" in cam_lat:
        table.add_row("camera latency p50 / p95 / max", f"{cam_lat['p50'] * 1000:.0f} / {cam_lat['p95'] * 1000:.0f} / "
                                                         f"{cam_lat['max'] * 1000:.0f} ms")
    if result.writer is not None and result.writer.audio_packets:
        table.add_row("audio", f"{result.writer.audio_packets} packets copied")
    if result.attempts:
        table.add_row("reconnects", f"{result.reconnects} of {result.attempts} attempt(s)")
    for note in result.notes:
        table.add_row("note", note)
    table.add_row("time", f"{result.seconds:.1f} s")
    console.print(table)


class BatchProgressView(_ProgressDisplay):
    """Batch progress: one bar for the frames of all inputs together, one row per input with its state.

    A ``ProgressListener``: ``run_batch`` reports every input once planned, then as its units run.
    """

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self._progress = None if quiet else RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            _FramesColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._total: TaskID | None = None
        self._rows: dict[str, TaskID] = {}
        self._done: dict[str, int] = {}
        self._frames: dict[str, int] = {}

    def __call__(self, progress: Progress) -> None:
        if self._progress is None:
            return
        if self._total is None:
            self._total = self._progress.add_task("[bold]all inputs", total=None, status="")
        if progress.item not in self._rows:
            self._rows[progress.item] = self._progress.add_task(f"  {Path(progress.item).name}", total=progress.total,
                                                                status="")
        self._done[progress.item], self._frames[progress.item] = progress.done, progress.total or 0
        self._progress.update(self._rows[progress.item], completed=progress.done, total=progress.total,
                              status=_coloured(progress.detail))
        self._progress.update(self._total, completed=sum(self._done.values()),
                              total=sum(self._frames.values()) or None, status=f"{len(self._rows)} files")


_STATUS_COLOURS = {"done earlier": "green", "done": "green", "failed": "red"}


def _coloured(status: str) -> str:
    colour = _STATUS_COLOURS.get(status)
    return f"[{colour}]{status}" if colour else status


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
