"""One job: a video or an image in, the enhanced file out, written safely."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from .config import Settings
from .engine import Engine
from .faces.fingerprint import run_fingerprint
from .faces.select import EVERY_TRACK, TrackSelection
from .review.gallery import FaceGallery, GallerySummary
from .media.image import read_image, write_image
from .errors import InputError
from .media.encoders import is_lossless
from .media.open import open_reader, open_writer
from .media.output import check_destination
from .media.info import VideoInfo, output_size
from .media.reader import VideoReader, frames_in_window
from .media.signals import interrupts_as_exceptions
from .media.writer import VideoWriter
from .media.source import local_file
from .review.evidence import EvidenceFiles, EvidenceWriters, marked
from .review.metrics import QualityObserver
from .review.observers import FaceRecords, ObserverGroup
from .protocols import FrameObserver, ProgressListener
from .review.audit import ENCODER_THREADS, AuditedRun, AuditLog, audit_header
from .review.credentials import Claim, SigningKey, check_signable, sign_output
from .review.provenance import input_record, model_name, output_tags, weights_record
from .types import Frame, FrameResult, PipelineStats, Progress
from .upscale.lanczos import lanczos_resize


@dataclass
class JobResult:
    """What a finished job did; ``gpen_video.review.report`` turns it into the summary and the JSON report."""

    source: str
    output: str
    kind: str  # "video" or "image"
    settings: Settings
    stats: PipelineStats
    seconds: float
    info: VideoInfo | None = None
    media: dict = field(default_factory=dict)  # reader and writer counters
    quality: QualityObserver = field(default_factory=QualityObserver)  # empty unless measured
    gallery: GallerySummary | None = None  # the face gallery, when one was asked for
    face_records: list[dict] | None = None  # every face of every frame (``observers.FaceRecords``), when asked for
    options: dict = field(default_factory=dict)  # the job's own arguments (trim, compare, gallery folder)
    backend: str = ""  # what ran GPEN (the restorer's ``backend``: "torch bf16", "onnxruntime ...")


def _combined(*observers: FrameObserver | None) -> FrameObserver | None:
    """The observers a job asked for (the Nones left out) as one, or None when there are none."""
    chosen = [o for o in observers if o is not None]
    return ObserverGroup(chosen) if chosen else None


def side_by_side(result: FrameResult) -> np.ndarray:
    """uint8 [H', 2 W', 3]: the original (enlarged with plain Lanczos when the output is) beside the enhanced frame."""
    height, width = result.enhanced.shape[:2]
    return np.hstack([lanczos_resize(result.frame.image, width, height), result.enhanced])


def expected_frames(info: VideoInfo, start: float | None, end: float | None) -> int | None:
    """Frames a job on ``info`` trimmed to [start, end) will write, or None when that cannot be known."""
    if not info.frame_count:
        return None
    if start is None and end is None:
        return info.frame_count
    if not (info.fps and info.duration):
        return None
    return max(1, frames_in_window(info.fps, info.duration, start, end))


def enhance_video(
    source: str | Path,
    output: str | Path,
    settings: Settings,
    *,
    engine: Engine | None = None,
    start: float | None = None,
    end: float | None = None,
    compare: bool = False,
    overwrite: bool = False,
    progress: ProgressListener | None = None,
    keep_frames: bool = False,
    measure_quality: bool = False,
    faces_out: str | Path | None = None,
    record_faces: bool = False,
    selection: TrackSelection = EVERY_TRACK,
    audit: str | Path | None = None,
    signing: SigningKey | None = None,
    evidence: EvidenceFiles = EvidenceFiles(),
) -> JobResult:
    """Decode ``source``, enhance every frame, encode to ``output`` with the source's audio.

    The input is opened first (bad input fails fast), then the engine is built (missing weights
    fail before any output exists), then the output is written to a temporary file that replaces
    ``output`` only on success. SIGINT/SIGTERM raise ``Interrupted`` and leave no file behind.
    ``progress`` hears once when the engine is ready (``done`` 0, ``total`` the expected frames) and
    after every frame written. ``keep_frames`` keeps every frame's faces and tracks in
    ``stats.per_frame`` (for a report); off, memory stays constant however long the video.
    ``measure_quality`` fills ``JobResult.quality`` (flicker, landmark steps, face PSNR).
    ``faces_out`` names a folder for the face gallery (``review.gallery``), published after the
    video, whose ``index.json`` records the run's fingerprint (``run_fingerprint``); ``record_faces`` keeps
    every face of every frame in ``JobResult.face_records``. ``selection``: the tracks restored (the
    engine's, when one is built here). The output carries ``review.provenance.output_tags`` in its metadata.
    ``audit`` names the run's audit log (``review.audit``), published with the output; ``signing`` embeds
    signed Content Credentials in the output before it is published (``review.credentials``).
    ``evidence``: the mask video and marks (``review.evidence``), published with the output; InputError with
    ``compare`` or hidden faces. Where no face changed a pixel a lossless output is the input (``_keeps_input``).
    """
    _check_evidence(evidence, settings, compare)
    began, stats, quality = time.perf_counter(), PipelineStats(keep_frames=keep_frames), QualityObserver()
    records, keep_input = FaceRecords() if record_faces else None, _keeps_input(settings, compare, evidence)
    options = {"start": start, "end": end, "compare": compare, "faces_out": None if faces_out is None else str(faces_out)}
    with interrupts_as_exceptions(), \
            open_reader(source, settings.input, start=start, end=end,
                        keep_planes=keep_input and settings.upscale.scale == 1) as reader, \
            ExitStack() as cleanup:
        info = reader.info
        check_destination(output, source=source, inputs=settings.files_read(),
                          overwrite=overwrite)  # before the slow model load
        if signing is not None:
            check_signable(output, signing)
        gallery = None if faces_out is None else cleanup.enter_context(
            _open_gallery(faces_out, source, output, settings, overwrite, start, end))
        engine = engine or Engine(settings, selection=selection)
        log = None if audit is None else cleanup.enter_context(
            _audit_log(audit, source, output, engine, "video", {**options, "tracks": _tracks(selection)}, overwrite))
        observer = _combined(quality if measure_quality else None, gallery, records, log)
        report = _progress_reporter(progress, stats, expected_frames(info, start, end), time.perf_counter())
        report()  # the engine is ready: a progress bar can show before the first (slow) frame
        writer = _write_video(engine, reader, source, output, stats, observer, report, log, signing, evidence,
                              start=start, compare=compare, overwrite=overwrite, keep_input=keep_input)
        media = {"reader": vars(reader.stats).copy(), "writer": vars(writer.stats).copy()}
        summary = gallery.close() if gallery is not None else None  # after the video: no gallery of a failed run
    return JobResult(str(source), str(output), "video", settings, stats, time.perf_counter() - began, info, media,
                     quality, summary, None if records is None else records.frames, options, engine.restorer.backend)


def _keeps_input(settings: Settings, compare: bool, evidence: EvidenceFiles) -> bool:
    """Whether the run encodes the input's planes as decoded where no face changed a pixel
    (``media.untouched``), and so needs each frame's paste weight: with a lossless encode
    (``media.encoders.is_lossless``), any crf 0 (asked for as lossless) or any ``evidence`` (which needs the
    weight anyway), and nothing hides faces; the planes are kept only where the output has the input's size."""
    lossless = is_lossless(settings.encode) or settings.encode.crf == 0
    return (lossless or evidence.wanted) and not compare and not settings.redact.enabled


def _open_outputs(output: str | Path, info: VideoInfo, settings: Settings, source: str | Path | None,
                  start: float | None, size: tuple[int, int], overwrite: bool, evidence: EvidenceFiles,
                  log: AuditLog | None) -> tuple[VideoWriter, EvidenceWriters]:
    """The output's writer (copying ``source``'s other streams; on fixed threads and heard by ``log`` when
    audited) and the evidence writers on its timeline, for frames of ``size`` (width, height)."""
    tags, (width, height) = output_tags(settings), size
    writer = open_writer(output, info, settings.encode, source=source, start=start, width=width, height=height,
                         overwrite=overwrite, inputs=settings.input, tags=tags,
                         threads=None if log is None else ENCODER_THREADS, listener=log)
    try:
        extra = EvidenceWriters(evidence, info, settings.encode, source=source, start=start, width=width,
                                height=height, overwrite=overwrite, inputs=settings.input, tags=tags)
    except BaseException:
        writer.abort()
        raise
    return writer, extra


def _check_evidence(evidence: EvidenceFiles, settings: Settings, compare: bool) -> None:
    """Refuse evidence that would not describe the output: side by side, or with faces hidden."""
    if not evidence.wanted:
        return
    if compare:
        raise InputError("a mask or marks describe the enhanced picture alone, not a side-by-side output")
    if settings.redact.enabled:
        raise InputError("a mask or marks cannot be made while faces are hidden: hiding changes pixels "
                         "outside the restored faces")


def _write_video(engine: Engine, reader: VideoReader, source: str | Path, output: str | Path, stats: PipelineStats,
                 observer: FrameObserver | None, report: Callable[[], None], log: AuditLog | None,
                 signing: SigningKey | None, evidence: EvidenceFiles, *, start: float | None, compare: bool,
                 overwrite: bool, keep_input: bool) -> VideoWriter:
    """Encode ``engine``'s frames from ``reader`` into ``output`` and its ``evidence`` files, and publish them
    (the output signed and hashed into ``log`` first); returns the closed writer. An audited run encodes on
    fixed threads and restores in fixed batches, so that it can be repeated byte for byte."""
    info = reader.info
    size = output_size(info, engine.scale, side_by_side=compare)
    writer, extra = _open_outputs(output, info, engine.settings, None if info.is_live else source, start, size,
                                  overwrite, evidence, log)
    with writer, extra:
        results = engine.stream(reader, stats=stats, observer=observer, weights=keep_input,
                                planes=not compare and writer.takes_planes, fixed_batches=log is not None)
        _encode_all(results, writer, stats, compare, report, extra)
        writer.close(before_publish=_finisher(source, output, engine.settings, log, signing))
    return writer


def _audit_log(dest: str | Path, source: str | Path, output: str | Path, engine: Engine, kind: str, options: dict,
               overwrite: bool) -> AuditLog:
    """The audit log of a run of ``engine`` (``review.audit``), its header written."""
    run = AuditedRun(str(source), str(output), kind, engine.settings, engine.restorer.backend,
                     str(engine.restorer.device), engine.frame_path_choice.name, engine.scale, options,
                     ENCODER_THREADS if kind == "video" else None)
    return AuditLog(dest, audit_header(run), overwrite=overwrite)


def _tracks(selection: TrackSelection) -> dict:
    """The tracks chosen, for the audit log: ``{"only": ids or None (every track), "excluded": ids}``."""
    return {"only": None if selection.only is None else sorted(selection.only), "excluded": sorted(selection.excluded)}


def _finisher(source: str | Path, output: str | Path, settings: Settings, log: AuditLog | None,
              signing: SigningKey | None) -> Callable[[Path], None] | None:
    """What is done to the finished output file before it is published: sign it, then close the audit
    log with its hash (the manifest holds the log's chain hash, the footer the signed file's sha256)."""
    if log is None and signing is None:
        return None

    def finish(temp: Path) -> None:
        if signing is not None:
            weights = weights_record(settings.restore)
            claim = Claim(Path(source), input_record(source)["sha256"], model_name(settings.restore),
                          weights["sha256"], None if log is None else log.chain_head)
            sign_output(temp, Path(output).name, claim, signing)
        if log is not None:
            log.finish(temp)
    return finish


def _encode_all(results: Iterable[FrameResult], writer: VideoWriter, stats: PipelineStats, compare: bool,
                report: Callable[[], None], evidence: EvidenceWriters) -> None:
    """Encode each result (beside its original with ``compare``, marked when the output is) and its evidence,
    timing the encoders, ``report`` after each; then finish every file, so all are complete before any is
    published."""
    for result in results:
        started = time.perf_counter()
        if compare:
            writer.write(replace(result.frame, image=side_by_side(result)))
        elif evidence.files.mark_output:
            picture, changed = marked(result)
            writer.write(replace(result.frame, image=picture), None, changed)
        else:
            writer.write(replace(result.frame, image=result.enhanced), result.planes, result.weight)
        evidence.write(result, replace(result.frame, image=result.enhanced))
        stats.add_time("encode", time.perf_counter() - started)
        report()
    writer.finish()
    evidence.finish()


def _open_gallery(folder: str | Path, source: str | Path, output: str | Path, settings: Settings, overwrite: bool,
                  start: float | None, end: float | None) -> FaceGallery:
    """The face gallery of a run on ``source``, stamped with the run's fingerprint."""
    return FaceGallery(folder, source=str(source), overwrite=overwrite, inputs=_gallery_keeps(source, output, settings),
                       fingerprint=run_fingerprint(source, settings.faces, start, end).to_dict())


def _progress_reporter(progress: ProgressListener | None, stats: PipelineStats, total: int | None,
                       ready: float) -> Callable[[], None]:
    """A call that tells ``progress`` where the run stands (seconds counted from ``ready``); a no-op without one."""
    def report() -> None:
        if progress is not None:
            progress(Progress(stats.frames, total, stats.faces, time.perf_counter() - ready,
                              stage_seconds=dict(stats.stage_seconds)))
    return report


def _gallery_keeps(source: str | Path, output: str | Path, settings: Settings) -> list[str | Path]:
    """What the gallery folder must not hold, since replacing it removes what it holds: the run's files."""
    source_file = local_file(source)
    return [output, *settings.files_read(), *([] if source_file is None else [source_file])]


IMAGE_DET_LIMIT = 2048  # pixels: pictures are detected at full resolution up to this longest side


def _image_settings(settings: Settings, image: np.ndarray) -> Settings:
    """A picture is one detector pass, so it can afford full resolution (small faces in group photos)."""
    det_size = max(settings.faces.det_size, min(max(image.shape[:2]), IMAGE_DET_LIMIT))
    return replace(settings, faces=replace(settings.faces, det_size=det_size))


def enhance_image(
    source: str | Path,
    output: str | Path,
    settings: Settings,
    *,
    engine: Engine | None = None,
    compare: bool = False,
    overwrite: bool = False,
    measure_quality: bool = False,
    faces_out: str | Path | None = None,
    record_faces: bool = False,
    selection: TrackSelection = EVERY_TRACK,
    audit: str | Path | None = None,
    signing: SigningKey | None = None,
) -> JobResult:
    """Enhance the faces of one picture; the output format follows the output's extension.

    ``measure_quality`` fills ``JobResult.quality`` (face PSNR; one frame has no flicker).
    ``faces_out``, ``record_faces``, ``selection``, ``audit`` and ``signing`` as for ``enhance_video`` (every
    face is its own track; the audit's ``out`` hashes the RGB picture handed to the image encoder).
    """
    began = time.perf_counter()
    stats = PipelineStats()
    quality = QualityObserver()
    records = FaceRecords() if record_faces else None
    check_destination(output, source=source, inputs=settings.files_read(), overwrite=overwrite)
    if signing is not None:
        check_signable(output, signing)
    with interrupts_as_exceptions(), ExitStack() as cleanup:
        image = read_image(source)
        gallery = None if faces_out is None else cleanup.enter_context(
            FaceGallery(faces_out, source=str(source), still=True, overwrite=overwrite,
                        inputs=_gallery_keeps(source, output, settings),
                        fingerprint=run_fingerprint(source, settings.faces).to_dict()))
        if engine is None:
            settings = _image_settings(settings, image)
            engine = Engine(settings, selection=selection)
        frame = Frame(index=0, pts=0, time_base=Fraction(1, 1), image=image)
        log = None if audit is None else cleanup.enter_context(
            _audit_log(audit, source, output, engine, "image", {"compare": compare, "tracks": _tracks(selection)},
                       overwrite))
        observer = _combined(quality if measure_quality else None, gallery, records, log)
        (result,) = list(engine.stream([frame], stats=stats, observer=observer, detect_every=1, still=True))
        enhanced = side_by_side(result) if compare else result.enhanced
        if log is not None:
            log.encoded([enhanced])
        write_image(output, enhanced, overwrite=overwrite, source=source, tags=output_tags(settings),
                    before_publish=_finisher(source, output, settings, log, signing))
        summary = gallery.close() if gallery is not None else None
    options = {"compare": compare, "faces_out": None if faces_out is None else str(faces_out)}
    return JobResult(str(source), str(output), "image", settings, stats, time.perf_counter() - began,
                     quality=quality, gallery=summary, face_records=None if records is None else records.frames,
                     options=options, backend=engine.restorer.backend)
