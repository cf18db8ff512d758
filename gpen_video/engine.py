"""The streaming pipeline: decode → detect/track → align → restore → blend + paste → encode.

Stages run in their own threads joined by bounded queues, so decoding, detection, pasting and
encoding overlap the restorer, and memory stays bounded whatever the length of the video:

    frames ─▶ [analyse: detect, track, smooth, align] ─▶ [restore: batches across frames]
           ─▶ [blend + paste] ─▶ caller (writer, window)

``Engine.stream`` is the core that video files, images and live mode share.
"""
from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .config import Settings
from .faces.align import align_face
from .faces.analyzer import FaceAnalyzer
from .faces.detect import FaceDetector, build_detector
from .faces.parsing import FaceParser
from .faces.paste import paste_faces, soften_small_face
from .faces.temporal import TemporalBlender
from .restore import PassthroughRestorer, Restorer, build_restorer
from .metrics import psnr
from .types import AlignedFace, Frame, TrackedFace

QUEUE_DEPTH = 8  # frames in flight between two stages
_POLL = 0.1  # seconds between checks for a stopped pipeline
_GATHER = 0.005  # seconds the restore stage waits for more faces while a batch is in flight


@dataclass
class FrameResult:
    """A processed frame: the original, the enhanced image and the faces found in it."""

    frame: Frame
    enhanced: np.ndarray  # uint8 [H, W, 3] RGB
    faces: list[AlignedFace]
    scene_cut: bool = False


@dataclass
class RunningMean:
    """A mean over a stream of values, in constant memory."""

    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    @property
    def value(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass
class PipelineStats:
    """What the pipeline did, for the progress bar, the summary and the report.

    ``per_frame`` (face count and track ids of every frame) is kept only when ``keep_frames``, since
    it grows with the video; everything else stays constant in size.
    """

    keep_frames: bool = True
    frames: int = 0
    faces: int = 0
    track_ids: set[int] = field(default_factory=set)
    scene_cuts: int = 0
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    per_frame: list[dict] = field(default_factory=list)
    # Mean absolute change (0-255) of a track's aligned face between frames, before and after blending.
    flicker_restored: RunningMean = field(default_factory=RunningMean)
    flicker_blended: RunningMean = field(default_factory=RunningMean)
    # Mean landmark movement (pixels) between frames of a track, as detected and as smoothed.
    landmark_step_detected: RunningMean = field(default_factory=RunningMean)
    landmark_step_smoothed: RunningMean = field(default_factory=RunningMean)
    # PSNR (dB) of each output face region against the input: fidelity for ``--restorer none``.
    face_psnr: RunningMean = field(default_factory=RunningMean)

    def add_time(self, stage: str, seconds: float) -> None:
        self.stage_seconds[stage] += seconds


class _Stop(Exception):
    """Raised inside a stage when another stage has failed or the consumer went away."""


@dataclass
class _Job:
    """A frame travelling through the stages with its aligned faces and, later, their restorations."""

    frame: Frame
    faces: list[AlignedFace]
    scene_cut: bool
    restored: list[np.ndarray] | None = None


class Engine:
    """GPEN face enhancement for frames, videos and images.

    Args:
        settings: the run's settings (see ``gpen_video.config``).
        restorer: a ready restorer; built from ``settings.restore`` when omitted.
        detector: a ready face detector; built from ``settings.faces`` when omitted.
        parser: gives the paste-back masks (``masks(crops) -> [N, S, S]``); built when
            ``settings.faces.mask`` is "parsing" and omitted. None means the feathered square mask.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        restorer: Restorer | PassthroughRestorer | None = None,
        detector: FaceDetector | None = None,
        parser: FaceParser | None = None,
    ) -> None:
        self.settings = settings
        r, f = settings.restore, settings.faces
        self.restorer = restorer or build_restorer(
            r.restorer,
            model=r.model,
            weights=r.weights,
            device=r.device,
            batch_size=r.batch_size,
            fp32=r.fp32,
            compile=r.compile,
        )
        device = str(getattr(self.restorer, "device", "cpu"))  # detector and parser run beside GPEN
        self.detector = detector or build_detector(
            f.detector,
            det_size=f.det_size,
            score_threshold=f.det_threshold,
            min_face=f.min_face,
            max_faces=f.max_faces,
            device=device,
        )
        if parser is None and f.mask == "parsing":
            from .models.weights import resolve_weights

            parser = FaceParser(resolve_weights("parsing_parsenet"), device=device)
        self.parser = parser

    @property
    def crop_size(self) -> int:
        return int(self.restorer.size)

    def stream(
        self,
        frames: Iterable[Frame],
        *,
        stats: PipelineStats | None = None,
        detect_every: int | None = None,
        queue_depth: int = QUEUE_DEPTH,
    ) -> Iterator[FrameResult]:
        """Enhance ``frames`` and yield one result per frame, in order.

        Each call starts fresh tracks and temporal state. Closing the generator (or an error in any
        stage) stops every stage thread before this returns or raises. ``queue_depth`` is the number
        of items each queue between two stages holds: deep queues keep a file pipeline busy, live
        mode uses 1 so that frames cannot pile up behind a slow stage.
        """
        if queue_depth < 1:
            raise ValueError(f"queue_depth must be >= 1, got {queue_depth}")
        stats = stats if stats is not None else PipelineStats()
        faces_cfg = self.settings.faces
        analyzer = FaceAnalyzer(
            self.detector,
            detect_every=detect_every or faces_cfg.detect_every,
            smooth=faces_cfg.smooth,
        )
        blender = TemporalBlender(faces_cfg.temporal)
        pipeline = _Pipeline(stats, queue_depth)
        to_analyse = pipeline.queue()
        to_restore = pipeline.queue()
        to_paste = pipeline.queue()
        done = pipeline.queue()

        pipeline.start("decode", lambda: self._feed(frames, to_analyse, pipeline))
        pipeline.start("analyse", lambda: self._analyse(analyzer, to_analyse, to_restore, pipeline))
        pipeline.start("restore", lambda: self._restore(to_restore, to_paste, pipeline))
        pipeline.start("paste", lambda: self._paste(blender, to_paste, done, pipeline))
        try:
            while True:
                item = pipeline.get(done)
                if item is None:
                    break
                yield item
        finally:
            pipeline.shutdown()

    # -- stages ------------------------------------------------------------------------------

    def _feed(self, frames: Iterable[Frame], out: queue.Queue, pipeline: _Pipeline) -> None:
        iterator = iter(frames)
        while True:
            started = time.perf_counter()
            frame = next(iterator, None)
            pipeline.stats.add_time("decode", time.perf_counter() - started)
            pipeline.put(out, frame)
            if frame is None:
                return

    def _analyse(self, analyzer: FaceAnalyzer, inbox: queue.Queue, out: queue.Queue, pipeline: _Pipeline) -> None:
        size = self.crop_size
        last_landmarks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        while True:
            batch = pipeline.take_available(inbox, limit=max(4, analyzer.detect_every))
            frames = [f for f in batch if f is not None]
            if frames:
                started = time.perf_counter()
                found = analyzer.process([f.image for f in frames])
                pipeline.stats.add_time("detect+track", time.perf_counter() - started)
                started = time.perf_counter()
                for frame, frame_faces in zip(frames, found):
                    _record_landmark_steps(pipeline.stats, last_landmarks, frame_faces.faces)
                    aligned = []
                    for face in frame_faces.faces:
                        crop, affine = align_face(frame.image, face.landmarks, size)
                        extras = {"box": face.detection.box}
                        aligned.append(AlignedFace(frame.index, face.track_id, crop, affine, extras))
                    pipeline.put(out, _Job(frame, aligned, frame_faces.scene_cut))
                pipeline.stats.add_time("align", time.perf_counter() - started)
            if len(frames) < len(batch):
                pipeline.put(out, None)
                return

    def _restore(self, inbox: queue.Queue, out: queue.Queue, pipeline: _Pipeline) -> None:
        """Gather faces across frames into batches, submit them, and pass jobs on in frame order."""
        batch_size = self.restorer.batch_size  # an injected restorer brings its own
        waiting: deque[list[_Job]] = deque()  # groups of jobs in submission order
        gathered: list[_Job] = []
        gathered_faces = 0
        finished = False

        def submit() -> None:
            nonlocal gathered, gathered_faces
            if not gathered:
                return
            if gathered_faces:
                crops = np.stack([face.crop for job in gathered for face in job.faces])
                started = time.perf_counter()
                self.restorer.submit(crops, tag=gathered)
                pipeline.stats.add_time("restore", time.perf_counter() - started)
            else:
                for job in gathered:
                    job.restored = []
            waiting.append(gathered)
            gathered, gathered_faces = [], 0

        def release(wait: bool) -> None:
            started = time.perf_counter()
            for jobs, crops in self.restorer.collect(wait=wait):
                offset = 0
                for job in jobs:
                    job.restored = list(crops[offset : offset + len(job.faces)])
                    offset += len(job.faces)
            pipeline.stats.add_time("restore", time.perf_counter() - started)
            while waiting and all(job.restored is not None for job in waiting[0]):
                for job in waiting.popleft():
                    pipeline.put(out, job)

        while not finished:
            # Wait long for input only when the restorer is idle; otherwise keep gathering briefly.
            idle = not gathered and not waiting
            items = pipeline.take_available(inbox, limit=batch_size, timeout=None if idle else _GATHER)
            for job in items:
                if job is None:
                    finished = True
                    break
                gathered.append(job)
                gathered_faces += len(job.faces)
                if gathered_faces >= batch_size:
                    submit()
            if gathered and (gathered_faces == 0 or not waiting):
                submit()  # nothing to gain by holding these back
            release(wait=not items and not gathered and bool(waiting))
        submit()
        while waiting:
            release(wait=True)
        pipeline.put(out, None)

    def _paste(self, blender: TemporalBlender, inbox: queue.Queue, out: queue.Queue, pipeline: _Pipeline) -> None:
        alpha = self.settings.faces.alpha
        previous: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        while True:
            job = pipeline.get(inbox)
            if job is None:
                pipeline.put(out, None)
                return
            started = time.perf_counter()
            if job.scene_cut:
                blender.reset()
                previous.clear()
            alive = {face.track_id for face in job.faces}
            blender.retain(alive)
            pasted = []
            for face, restored in zip(job.faces, job.restored):
                blended = blender.blend(face.track_id, restored)
                _record_flicker(pipeline.stats, previous, face.track_id, restored, blended)
                pasted.append((soften_small_face(blended, _box_side(face)), face.affine))
            for track_id in list(previous):
                if track_id not in alive:
                    del previous[track_id]
            masks = list(self.parser.masks(np.stack([crop for crop, _ in pasted]))) if pasted and self.parser else None
            enhanced = paste_faces(job.frame.image, pasted, alpha=alpha, masks=masks) if pasted else job.frame.image
            pipeline.stats.add_time("blend+paste", time.perf_counter() - started)
            _record_face_psnr(pipeline.stats, job.frame.image, enhanced, job.faces)
            stats = pipeline.stats
            stats.frames += 1
            stats.faces += len(job.faces)
            stats.track_ids.update(alive)
            stats.scene_cuts += int(job.scene_cut)
            if stats.keep_frames:
                stats.per_frame.append(
                    {"index": job.frame.index, "pts": job.frame.pts, "faces": len(job.faces), "tracks": sorted(alive)}
                )
            pipeline.put(out, FrameResult(job.frame, enhanced, job.faces, job.scene_cut))


def _box_side(face: AlignedFace) -> float:
    """Longer side of the face's detection box, in frame pixels."""
    x0, y0, x1, y1 = face.extras["box"]
    return float(max(x1 - x0, y1 - y0))


def _record_flicker(
    stats: PipelineStats, previous: dict[int, tuple[np.ndarray, np.ndarray]], track_id: int, restored: np.ndarray, blended: np.ndarray
) -> None:
    """Mean absolute change of a track's aligned face between frames, before and after blending."""
    small_restored = restored[::4, ::4].astype(np.float32)
    small_blended = blended[::4, ::4].astype(np.float32)
    if track_id in previous:
        before, after = previous[track_id]
        stats.flicker_restored.add(float(np.abs(small_restored - before).mean()))
        stats.flicker_blended.add(float(np.abs(small_blended - after).mean()))
    previous[track_id] = (small_restored, small_blended)


def _record_landmark_steps(
    stats: PipelineStats, last: dict[int, tuple[np.ndarray, np.ndarray]], faces: list[TrackedFace]
) -> None:
    """Mean landmark movement of each track since the previous frame, as detected and as smoothed."""
    current = {face.track_id: (face.detection.landmarks, face.landmarks) for face in faces}
    for track_id, (detected, smoothed) in current.items():
        if track_id in last:
            prev_detected, prev_smoothed = last[track_id]
            stats.landmark_step_detected.add(float(np.linalg.norm(detected - prev_detected, axis=1).mean()))
            stats.landmark_step_smoothed.add(float(np.linalg.norm(smoothed - prev_smoothed, axis=1).mean()))
    last.clear()
    last.update(current)


def _record_face_psnr(stats: PipelineStats, original: np.ndarray, enhanced: np.ndarray, faces: list[AlignedFace]) -> None:
    """PSNR of each face box of the output against the input (every other pixel: it runs on every frame)."""
    height, width = original.shape[:2]
    for face in faces:
        x0, y0, x1, y1 = np.asarray(face.extras["box"]).round().astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            stats.face_psnr.add(min(psnr(original[y0:y1:2, x0:x1:2], enhanced[y0:y1:2, x0:x1:2]), 100.0))


class _Pipeline:
    """Threads, bounded queues and one shared stop flag; the first error wins and stops everything."""

    def __init__(self, stats: PipelineStats, depth: int = QUEUE_DEPTH) -> None:
        self.stats = stats
        self.depth = depth
        self.stopped = threading.Event()
        self.error: BaseException | None = None
        self.threads: list[threading.Thread] = []

    def queue(self) -> queue.Queue:
        return queue.Queue(maxsize=self.depth)

    def start(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            except _Stop:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                if self.error is None:
                    self.error = exc
                self.stopped.set()

        thread = threading.Thread(target=run, name=f"gpen-video-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def put(self, q: queue.Queue, item: object) -> None:
        while True:
            if self.stopped.is_set():
                raise _Stop
            try:
                q.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue, timeout: float | None = None) -> object:
        """Next item; raises another stage's error, ``_Stop``, or ``queue.Empty`` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.error is not None:
                raise self.error
            if self.stopped.is_set():
                raise _Stop
            wait = _POLL if deadline is None else min(_POLL, max(0.0, deadline - time.monotonic()))
            try:
                return q.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    def take_available(self, q: queue.Queue, *, limit: int, timeout: float | None = None) -> list:
        """Up to ``limit`` items: waits ``timeout`` seconds (None: indefinitely) for the first only."""
        try:
            items = [self.get(q, timeout)]
        except queue.Empty:
            return []
        while len(items) < limit and (not items or items[-1] is not None):
            try:
                items.append(q.get_nowait())
            except queue.Empty:
                break
        return items

    def shutdown(self) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=10)
