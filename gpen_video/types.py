"""Data passed between pipeline stages.

Colour is RGB everywhere inside the package; pixel coordinates are (x, y).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded video frame.

    Attributes:
        index: 0-based position in decode order after any trimming.
        pts: presentation timestamp in ``time_base`` units, or None when the source has none.
        time_base: seconds per pts tick.
        image: uint8 [H, W, 3] RGB, upright.
        time: wall-clock capture time (``time.monotonic()``) for live sources, else None.
        decoded_planes: the picture as it was decoded, yuv420p planes uint8 [3 H / 2, W] (Y, U, V; BT.709,
            limited range: what the video writer encodes), when the reader was asked to keep them and the
            source is in that format; None otherwise. The writer encodes them where no face changed a pixel.
    """

    index: int
    pts: int | None
    time_base: Fraction
    image: np.ndarray
    time: float | None = None
    decoded_planes: np.ndarray | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.pts is None else float(self.pts * self.time_base)


@dataclass(frozen=True)
class Detection:
    """A face found by a detector, in frame pixels.

    Attributes:
        box: float32 [4] (x0, y0, x1, y1).
        score: detector confidence in [0, 1].
        landmarks: float32 [5, 2] (left eye, right eye, nose, left mouth, right mouth).
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray


@dataclass(frozen=True)
class TrackedFace:
    """A detection that the tracker has tied to a track, with smoothed landmarks float32 [5, 2].

    Attributes:
        hits: detector runs that have matched the track so far, this frame's included.
        missed_runs: detector runs since the last match (0 while the face is found; above 0 the
            face is carried on predicted landmarks for a few frames while it fades out).
        verified_hits: hits that a ``FaceVerifier`` confirmed as a face, counted up to the
            confirmation window (``faces.analyzer``); equal to ``hits`` when nothing verifies.
    """

    track_id: int
    detection: Detection
    landmarks: np.ndarray
    hits: int = 1
    missed_runs: int = 0
    verified_hits: int = 0


@dataclass(frozen=True)
class AlignedFace:
    """A face warped to the restorer's template.

    Attributes:
        frame_index: index of the source frame.
        track_id: track the face belongs to (-1 for a single image).
        crop: uint8 [S, S, 3] RGB.
        affine: float32 [2, 3] mapping frame pixels to crop pixels.
        box: float32 [4] (x0, y0, x1, y1) of the face's detection, in frame pixels.
    """

    frame_index: int
    track_id: int
    crop: np.ndarray
    affine: np.ndarray
    box: np.ndarray


@dataclass
class FrameResult:
    """A processed frame: the original, the enhanced image and the faces found in it.

    Attributes:
        frame: the decoded frame, unchanged.
        enhanced: uint8 [H, W, 3] RGB with the restored faces pasted in.
        faces: the faces tracked in this frame, each restored and pasted with its own strength
            (0 for a face not confirmed yet or turned away: its original pixels stay).
        scene_cut: True when the frame starts a new scene (tracks and blending were reset).
        planes: ``enhanced`` as yuv420p planes, uint8 [3 H / 2, W] (Y, then U, then V; BT.709, limited
            range), when the stream was asked for them and the frame path made them on its device;
            the video writer then encodes them as they are. None otherwise.
        weight: when the stream was asked for it, each pixel's paste weight, uint8 [H, W] (the size of
            ``enhanced``): round(255 w) of the combined weight w in [0, 1] the faces were pasted with, 0 where
            no face changed the pixel. None otherwise.
    """

    frame: Frame
    enhanced: np.ndarray
    faces: list[AlignedFace]
    scene_cut: bool = False
    planes: np.ndarray | None = None
    weight: np.ndarray | None = None


@dataclass(frozen=True)
class PastedFace:
    """One face at the paste stage, for frame observers (quality metrics).

    Attributes:
        tracked: the face as tracked: detected and smoothed landmarks.
        aligned: the face as aligned for the restorer.
        restored: uint8 [S, S, 3] RGB, the restorer's output (with the input's colour in monochrome
            scenes, see ``faces.monochrome``).
        blended: uint8 [S, S, 3] RGB, after temporal blending with the track's earlier faces.
        alpha: strength the face was pasted with in this frame, in [0, 1] (0: the original pixels
            were kept, e.g. before its track is confirmed).
        held: why ``alpha`` is below the settings' strength: any of "not selected", "unconfirmed",
            "fade" and "pose" (``faces.gate.GateDecision``); empty at full strength.
    """

    tracked: TrackedFace
    aligned: AlignedFace
    restored: np.ndarray
    blended: np.ndarray
    alpha: float = 1.0
    held: tuple[str, ...] = ()


@dataclass
class RedactionAudit:
    """What a redactor hid.

    Attributes:
        faces: faces hidden (detections linked over frames into one face each).
        regions: head regions hidden, summed over frames.
        frames: frames with at least one hidden region.
        bridged: indices of the frames where a face the detector missed was hidden because it was found
            before and after (a gap bridged).
        found_again: regions hidden because the look found a face in a frame hidden as far as was known.
    """

    faces: int = 0
    regions: int = 0
    frames: int = 0
    bridged: list[int] = field(default_factory=list)
    found_again: int = 0

    def to_dict(self) -> dict:
        return {"faces": self.faces, "regions": self.regions, "frames": self.frames,
                "bridged_frames": sorted(set(self.bridged)), "found_again": self.found_again}


@dataclass
class PipelineStats:
    """What the pipeline did: counts and time per stage, for the progress bar, the summary and the report.

    ``per_frame`` (face count and track ids of every frame) is kept only when ``keep_frames``, since
    it grows with the video; everything else stays constant in size. Quality measures are a frame
    observer's job (``metrics.QualityObserver``).
    """

    keep_frames: bool = True
    frames: int = 0
    faces: int = 0
    track_ids: set[int] = field(default_factory=set)
    scene_cuts: int = 0
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    per_frame: list[dict] = field(default_factory=list)
    redaction: RedactionAudit | None = None  # what was hidden, when faces are hidden

    def add_time(self, stage: str, seconds: float) -> None:
        self.stage_seconds[stage] += seconds


@dataclass(frozen=True)
class Progress:
    """Where a piece of work stands.

    Attributes:
        done: frames finished so far (0 in the first report, sent once the work is ready to start).
        total: frames expected; None when unknown (a live source, a stream that does not say).
        faces: faces restored so far.
        seconds: wall time since the first report.
        item: which piece of work, for a listener that follows several (a batch's inputs); "" otherwise.
        detail: one more line for people (live mode: latency, dropped frames); "" when none.
        stage_seconds: busy seconds so far per pipeline stage (decode, detect+track, restore, upscale, ...).
    """

    done: int
    total: int | None = None
    faces: int = 0
    seconds: float = 0.0
    item: str = ""
    detail: str = ""
    stage_seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float | None:
        """Frames per second so far; None before the first frame."""
        return self.done / self.seconds if self.done and self.seconds > 0 else None
