"""The streaming pipeline: decode → detect/track → align → restore → blend + paste → encode.

Stages run in their own threads joined by bounded queues (``runtime.stage_threads``), so decoding,
detection, pasting and encoding overlap the restorer, and memory stays bounded whatever the length of
the video:

    frames ─▶ [analyse: detect, track, smooth, align] ─▶ [restore: batches across frames]
           ─▶ ([upscale: enlarge the frame, when the output is larger]) ─▶ [blend + paste] ─▶ caller

``Engine.stream`` is the core that video files, images and live mode share. The engine only moves
frames: what is remembered about faces from one frame to the next (the gate and fades, the scene's
colour, temporal blending, paste masks and detail) is the stream's ``faces.compose.FaceCompositor``,
which the paste stage asks what to paste. Faces are cut out and pasted back by a frame path
(``frame_path``): OpenCV on the host, or torch on the restorer's device, where the frame is uploaded
once and stays until its faces are pasted. Tracking and the compositor (OpenCV's flow on small crops)
run on the host in both; the detector runs where it was built (beside the restorer), from the host frame.

When faces are hidden (``settings.redact``), the paste stage's ``faces.redact.Redactor`` hides the faces
the analyse stage's detector found in the pasted frame, holding a few frames back to hide each face before
its first detection, and every few frames a second detector (``hider``, at ``settings.redact.det_size``)
looks at the hidden frame for faces left; only the tracks in ``selection`` are restored.
"""
from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from .config import Settings
from .faces.align import face_affine
from .faces.analyzer import FaceAnalyzer, FrameFaces, build_analyzer
from .faces.compose import FaceCompositor
from .faces.detect import build_detector
from .faces.parsing import FaceParser
from .faces.redact import Redactor, boxes_to_hide
from .faces.select import EVERY_TRACK, TrackSelection
from .faces.verify import CropVerifier
from .gpu.frame_path import build_frame_path
from .protocols import CropOps, FaceDetector, FaceVerifier, FrameObserver, Restorer, TensorRestorer
from .restore import build_restorer
from .runtime.stage_threads import StageStopped, StageThreads
from .types import AlignedFace, Frame, FrameResult, PastedFace, PipelineStats, TrackedFace
from .upscale.base import Upsampler
from .upscale.build import build_upsampler

QUEUE_DEPTH = 8  # frames in flight between two stages
LOOK_SCORE = 0.6  # the look at hidden frames finds faces from this fraction of the hiding score (a margin)
_GATHER = 0.005  # seconds the restore stage waits for more faces while a batch is in flight


@dataclass
class _Job:
    """A frame travelling through the stages with its aligned faces and, later, their restorations."""

    frame: Frame
    tracked: list[TrackedFace]
    faces: list[AlignedFace]  # tracked[k] aligned
    scene_cut: bool
    held: object = None  # what the frame path keeps to paste into this frame (its crops; on the device path's device)
    restored: list[np.ndarray] | None = None
    background: np.ndarray | None = None  # the frame enlarged by the upsampler (upscale > 1 only)
    hide: list[np.ndarray] = field(default_factory=list)  # face boxes to hide, in input pixels
    keep: list[np.ndarray] = field(default_factory=list)  # face boxes never hidden (the selected faces)


class Engine:
    """GPEN face enhancement for frames, videos and images.

    Args:
        settings: the run's settings (see ``gpen_video.config``).
        restorer: a ready restorer; built from ``settings.restore`` when omitted.
        detector: a ready face detector; built from ``settings.faces`` when omitted.
        verifier: takes the second look at new tracks' faces (``faces.verify``). When omitted, a
            ``CropVerifier`` around the detector at ``settings.faces.verify_score`` if the detector is
            built here (an injected detector is an unknown one: it brings its own verifier or none),
            and none when ``verify_score`` is 0.
        parser: gives the paste-back masks (``masks(crops) -> [N, S, S]``); built when
            ``settings.faces.mask`` is "parsing" and omitted. None means the feathered square mask.
        upsampler: enlarges frames when ``settings.upscale.scale`` > 1; built from ``settings.upscale``
            on the restorer's device when omitted.
        selection: the tracks whose faces are restored (the others keep their pixels) [default: all].
        hider: the detector that looks at hidden frames for faces left when ``settings.redact.mode`` is
            not "off"; built from ``settings.faces`` at ``settings.redact``'s size, finding faces from below
            its score (``LOOK_SCORE``), when omitted.

    ``frame_path`` cuts faces out and pastes them back, on the host or on the restorer's device
    (``settings.restore.frame_path``; ``frame_path_choice`` says which and why).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        restorer: Restorer | None = None,
        detector: FaceDetector | None = None,
        verifier: FaceVerifier | None = None,
        parser: FaceParser | None = None,
        upsampler: Upsampler | None = None,
        selection: TrackSelection = EVERY_TRACK,
        hider: FaceDetector | None = None,
    ) -> None:
        self.settings = settings
        self.restorer = restorer or build_restorer(settings.restore)
        device = self.restorer.device  # detector and parser run beside the restorer
        self.detector = detector or build_detector(settings.faces, device=device)
        if detector is None and verifier is None and settings.faces.verify_score > 0:
            verifier = CropVerifier(self.detector, min_score=settings.faces.verify_score)
        self.verifier = verifier
        if parser is None and settings.faces.mask == "parsing":
            from .models.weights import resolve_weights

            parser = FaceParser(resolve_weights("parsing_parsenet"), device=device)
        self.parser = parser
        precision = "fp32" if settings.restore.fp32 else "auto"
        self.upsampler = upsampler or build_upsampler(settings.upscale, device=device, precision=precision)
        self.selection = selection
        redact = settings.redact
        if hider is None and redact.enabled:
            # Below the hiding score: a margin for the frames between two looks and what encoding changes.
            hider = build_detector(replace(settings.faces, det_size=redact.det_size,
                                           keep_threshold=redact.score * LOOK_SCORE,
                                           min_face=0, max_faces=0), device=device)
        self.hider = hider
        # Crops stay on the device from cut to paste where the restorer takes tensors and no parser needs host crops.
        resident = isinstance(self.restorer, TensorRestorer) and self.parser is None
        self.frame_path, self.frame_path_choice = build_frame_path(settings.restore.frame_path, device,
                                                                   upscale=self.scale, resident=resident)

    @property
    def scale(self) -> int:
        """Output side / input side."""
        return int(self.upsampler.scale)

    @property
    def crop_size(self) -> int:
        return int(self.restorer.size)

    def compositor(self, *, still: bool = False) -> FaceCompositor:
        """A fresh ``FaceCompositor`` for this engine's settings, face parser and output scale; ``still``
        as for ``stream``."""
        return FaceCompositor(self.settings.faces, parser=self.parser, scale=self.scale, still=still,
                              selection=self.selection, crop_ops=self.frame_path.crop_ops)

    def stream(
        self,
        frames: Iterable[Frame],
        *,
        stats: PipelineStats | None = None,
        observer: FrameObserver | None = None,
        detect_every: int | None = None,
        queue_depth: int = QUEUE_DEPTH,
        still: bool = False,
        compositor: FaceCompositor | None = None,
        planes: bool = False,
        redact_lookahead: int | None = None,
        fixed_batches: bool = False,
        weights: bool = False,
    ) -> Iterator[FrameResult]:
        """Enhance ``frames`` and yield one result per frame, in order.

        Each call starts fresh tracks and temporal state. Closing the generator (or an error in any
        stage) stops every stage thread before this returns or raises. ``queue_depth`` is the number
        of items each queue between two stages holds: deep queues keep a file pipeline busy, live
        mode uses 1 so that frames cannot pile up behind a slow stage. ``observer`` sees every frame
        as it is pasted (quality metrics for a report); it runs in the paste stage, so it must be quick.
        ``still`` is for a picture: with no later frames to confirm a face in or fade it over, every
        face that starts a track (``start_threshold``) is restored at once, at full strength.
        ``compositor``: what turns restored faces into pasted ones and keeps the per-track state
        (``faces.compose``), whose strength the caller may change while frames flow (live mode's
        controls); it is reset first [default: ``self.compositor(still=still)``].
        ``planes``: also give each result the encoder's yuv420p planes (``FrameResult.planes``) where the
        frame path makes them on its device (the device path, for even frame sizes and no upscaling).
        ``redact_lookahead``: when faces are hidden (``settings.redact``), the frames each face is hidden
        before its first detection, which delays the output by as many frames [default:
        ``settings.redact.before_frames``; live mode gives 0].
        ``fixed_batches``: the restorer's batches are cut where the faces fill one (or the input ends), never
        where the threads' timing puts them: a restorer whose numbers depend on its batch (torch on a CPU)
        then gives the same pixels on every run, at some cost in throughput (reproducible runs).
        ``weights``: also give each result its paste weight (``FrameResult.weight``), the pixels the faces
        changed; not while faces are hidden, which changes pixels outside them.
        """
        if queue_depth < 1:
            raise ValueError(f"queue_depth must be >= 1, got {queue_depth}")
        if weights and self.settings.redact.enabled:
            raise ValueError("paste weights do not cover the hidden faces: no weights while faces are hidden")
        stats = stats if stats is not None else PipelineStats()
        analyzer = build_analyzer(self.settings.faces, self.detector, verifier=self.verifier,
                                  detect_every=detect_every, still=still)
        if compositor is None:
            compositor = self.compositor(still=still)
        else:
            compositor.reset()  # the new analyzer numbers its tracks from 0 again
        redactor = self._redactor(stats, redact_lookahead)
        pipeline = StageThreads(stats, queue_depth)
        done = self._start_stages(pipeline, frames, analyzer, compositor, redactor, observer, planes, queue_depth,
                                  fixed_batches, weights)
        try:
            while True:
                item = pipeline.get(done)
                if item is None:
                    break
                yield item
        finally:
            pipeline.shutdown()

    def _redactor(self, stats: PipelineStats, lookahead: int | None) -> Redactor | None:
        """The face hider for ``settings.redact`` (its audit goes into ``stats``); None when faces are shown."""
        if not self.settings.redact.enabled:
            return None
        redact = self.settings.redact
        before = redact.before_frames if lookahead is None else lookahead
        redactor = Redactor(style=redact.style, margin=redact.margin, before=before, after=redact.after_frames,
                            look=self._faces_left, look_every=redact.look_every)
        stats.redaction = redactor.audit
        return redactor

    def _start_stages(self, pipeline: StageThreads, frames: Iterable[Frame], analyzer: FaceAnalyzer,
                      compositor: FaceCompositor, redactor: Redactor | None, observer: FrameObserver | None,
                      planes: bool, queue_depth: int, fixed_batches: bool, weights: bool) -> queue.Queue:
        """Start one thread per stage, joined by queues; returns the queue the finished results arrive on."""
        to_analyse = pipeline.queue()
        to_restore = pipeline.queue()
        restored = pipeline.queue()
        # Enlarged frames are scale² times bigger: fewer of them wait between stages.
        big_depth = max(1, queue_depth // self.scale**2)
        to_paste = pipeline.queue(big_depth) if self.scale > 1 else restored
        done = pipeline.queue(big_depth)

        pipeline.start("decode", lambda: self._feed(frames, to_analyse, pipeline))
        # Fixed detector batches, whatever the timing of the threads: the same input gives the same track ids
        # on every run, also where a detector's numbers depend on its batch (cuDNN). Live mode detects each
        # frame as it comes.
        analyse_batch = max(4, analyzer.detect_every) if queue_depth > 1 else 1
        pipeline.start("analyse", lambda: self._analyse(analyzer, analyse_batch, to_analyse, to_restore, pipeline))
        pipeline.start("restore", lambda: self._restore(to_restore, restored, pipeline, fixed_batches))
        if self.scale > 1:
            pipeline.start("upscale", lambda: self._upscale(restored, to_paste, pipeline))
        pipeline.start("paste", lambda: self._paste(compositor, redactor, observer, planes, weights, to_paste, done,
                                                    pipeline))
        return done

    # -- stages ------------------------------------------------------------------------------

    def _feed(self, frames: Iterable[Frame], out: queue.Queue, pipeline: StageThreads) -> None:
        iterator = iter(frames)
        while True:
            started = time.perf_counter()
            frame = next(iterator, None)
            pipeline.stats.add_time("decode", time.perf_counter() - started)
            pipeline.put(out, frame)
            if frame is None:
                return

    def _analyse(self, analyzer: FaceAnalyzer, batch_size: int, inbox: queue.Queue, out: queue.Queue,
                 pipeline: StageThreads) -> None:
        size = self.crop_size
        while True:
            batch = pipeline.take(inbox, batch_size)
            frames = [f for f in batch if f is not None]
            if frames:
                started = time.perf_counter()
                found = analyzer.process([f.image for f in frames])
                pipeline.stats.add_time("detect+track", time.perf_counter() - started)
                to_hide = self._find_hidden(found, pipeline.stats)
                started = time.perf_counter()
                for frame, frame_faces, (hide, keep) in zip(frames, found, to_hide):
                    affines = [face_affine(face.landmarks, size) for face in frame_faces.faces]
                    crops, held = self.frame_path.cut(frame.image, affines, size) if affines else ([], None)
                    aligned = [AlignedFace(frame.index, face.track_id, crop, affine, face.detection.box)
                               for face, crop, affine in zip(frame_faces.faces, crops, affines)]
                    pipeline.put(out, _Job(frame, frame_faces.faces, aligned, frame_faces.scene_cut, held, hide=hide,
                                           keep=keep))
                pipeline.stats.add_time("align", time.perf_counter() - started)
            if len(frames) < len(batch):
                pipeline.put(out, None)
                return

    def _find_hidden(self, found: list[FrameFaces],
                     stats: PipelineStats) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        """Per frame, the face boxes to hide (the detector's hits at the hiding score, and tracked faces it
        did not find) and those to keep visible; none when nothing is hidden. The time goes to the "redact"
        stage, which runs only where faces are hidden."""
        if not self.settings.redact.enabled:
            return [([], []) for _ in found]
        started = time.perf_counter()
        mode, score = self.settings.redact.mode, self.settings.redact.score
        hidden = [boxes_to_hide(mode, [hit for hit in faces.detections or [] if hit.score >= score], faces.faces,
                                self.selection) for faces in found]
        stats.add_time("redact", time.perf_counter() - started)
        return hidden

    def _faces_left(self, image: np.ndarray) -> list[np.ndarray]:
        """The face boxes the hiding detector finds in a hidden output frame (the redactor's look)."""
        return [hit.box for hit in self.hider.detect([image])[0]]

    def _restore(self, inbox: queue.Queue, out: queue.Queue, pipeline: StageThreads, fixed_batches: bool) -> None:
        """Gather faces across frames into batches, submit them, and pass jobs on in frame order; with
        ``fixed_batches`` a batch goes only once full (or at the end), not early when the restorer is idle."""
        batch_size = self.restorer.batch_size  # an injected restorer brings its own
        # A resident path's restorer is a TensorRestorer.
        submit_crops = self.restorer.submit_tensors if self.frame_path.resident else self.restorer.submit
        waiting: deque[list[_Job]] = deque()  # groups of jobs in submission order
        gathered: list[_Job] = []
        gathered_faces = 0
        finished = False

        def submit() -> None:
            nonlocal gathered, gathered_faces
            if not gathered:
                return
            if gathered_faces:
                crops = self.frame_path.crop_ops.stack([face.crop for job in gathered for face in job.faces])
                started = time.perf_counter()
                submit_crops(crops, tag=gathered)
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

        try:
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
                if gathered and (gathered_faces == 0 or not waiting) and not (fixed_batches and gathered_faces):
                    submit()  # nothing to gain by holding these back
                release(wait=not items and not gathered and bool(waiting))
            submit()
            while waiting:
                release(wait=True)
            pipeline.put(out, None)
        except StageStopped:
            self.restorer.flush()  # a stopped stream leaves nothing queued for the next one
            raise

    def _upscale(self, inbox: queue.Queue, out: queue.Queue, pipeline: StageThreads) -> None:
        """Enlarge each job's frame (batches of what is waiting) into ``job.background``."""
        while True:
            batch = pipeline.take_available(inbox, limit=self.upsampler.batch_size)
            jobs = [job for job in batch if job is not None]
            if jobs:
                started = time.perf_counter()
                enlarged = self.upsampler.upscale([job.frame.image for job in jobs])
                pipeline.stats.add_time("upscale", time.perf_counter() - started)
                for job, image in zip(jobs, enlarged):
                    job.background = image
                    pipeline.put(out, job)
            if len(jobs) < len(batch):
                pipeline.put(out, None)
                return

    def _paste(
        self,
        compositor: FaceCompositor,
        redactor: Redactor | None,
        observer: FrameObserver | None,
        planes: bool,
        weights: bool,
        inbox: queue.Queue,
        out: queue.Queue,
        pipeline: StageThreads,
    ) -> None:
        while True:
            job = pipeline.get(inbox)
            if job is None:
                for (result, faces), image in (redactor.flush() if redactor is not None else []):
                    self._deliver(result, image, faces, observer, out, pipeline)
                pipeline.put(out, None)
                return
            started = time.perf_counter()
            composed = compositor.compose(job.frame.image, job.tracked, job.faces, job.restored, job.scene_cut)
            background = job.frame.image if job.background is None else job.background
            weight = np.empty(background.shape[:2], np.float32) if weights else None  # the paste fills it
            held = job.held if job.background is None else None  # an enlarged frame is not the one cut
            enhanced, yuv = self.frame_path.paste(background, held, composed.crops, alphas=composed.alphas,
                                                  masks=composed.masks, detail=composed.detail,
                                                  planes=planes and job.background is None and redactor is None,
                                                  weight_out=weight)
            job.held = None  # the device path's frame is not needed any longer
            pipeline.stats.add_time("blend+paste", time.perf_counter() - started)
            pasted_faces = composed.faces
            if observer is not None and self.frame_path.resident:  # observers read host crops, after the paste
                job.faces, pasted_faces = _landed(self.frame_path.crop_ops, job.faces, pasted_faces)
            result = FrameResult(job.frame, enhanced, job.faces, job.scene_cut, yuv,
                                 None if weight is None else np.rint(weight * 255.0).astype(np.uint8))
            if redactor is None:
                self._deliver(result, enhanced, pasted_faces, observer, out, pipeline)
                continue
            started = time.perf_counter()
            hide, keep = ([box * self.scale for box in boxes] for boxes in (job.hide, job.keep))
            released = redactor.push((result, pasted_faces), job.frame.index, enhanced, hide, keep, cut=job.scene_cut)
            pipeline.stats.add_time("redact", time.perf_counter() - started)
            for (done, faces), image in released:
                self._deliver(done, image, faces, observer, out, pipeline)

    def _deliver(self, result: FrameResult, image: np.ndarray, faces: list, observer: FrameObserver | None,
                 out: queue.Queue, pipeline: StageThreads) -> None:
        """Count ``result`` (its picture now ``image``), show it to the observer and pass it on."""
        result.enhanced = image
        if observer is not None:
            observer.observe(result, faces)
        alive = {face.track_id for face in result.faces}
        stats = pipeline.stats
        stats.frames += 1
        stats.faces += len(result.faces)
        stats.track_ids.update(alive)
        stats.scene_cuts += int(result.scene_cut)
        if stats.keep_frames:
            frame = result.frame
            stats.per_frame.append(
                {"index": frame.index, "pts": frame.pts, "faces": len(result.faces), "tracks": sorted(alive)}
            )
        pipeline.put(out, result)


def _landed(ops: CropOps, aligned: list[AlignedFace],
            pasted: list[PastedFace]) -> tuple[list[AlignedFace], list[PastedFace]]:
    """The faces (``pasted[k]`` is ``aligned[k]`` pasted) with their crops, restored and blended faces on the
    host: one download for them all."""
    if not pasted:
        return aligned, pasted
    n = len(pasted)
    host = ops.to_host(ops.stack([face.crop for face in aligned] + [face.restored for face in pasted]
                                 + [face.blended for face in pasted]))
    landed = [replace(face, crop=host[k]) for k, face in enumerate(aligned)]
    return landed, [replace(face, aligned=landed[k], restored=host[n + k], blended=host[2 * n + k])
                    for k, face in enumerate(pasted)]
