"""Frames in, tracked and smoothed faces out: scene cuts, batched detection, tracking, smoothing,
and a second look (verification) at the first hits of each new track."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..protocols import FaceVerifier
from ..types import Detection, TrackedFace
from .detect import FaceDetector
from .smooth import LandmarkSmoother
from .track import FaceTracker, SceneCutDetector

if TYPE_CHECKING:
    from .settings import FaceSettings


@dataclass(frozen=True)
class FrameFaces:
    """Faces of one frame. ``scene_cut`` is True when the frame starts a new scene (tracks were reset);
    ``detections`` are the detector's hits in the frame, tracked or not (None where it did not run)."""

    faces: list[TrackedFace] = field(default_factory=list)
    scene_cut: bool = False
    detections: list[Detection] | None = None


class FaceAnalyzer:
    """Stateful face analysis over a stream of frames, fed in batches.

    The detector runs on every ``detect_every``-th frame and on every scene cut, once per call for all
    frames due (one batched call); in between, the tracker carries faces forward. The analyzer takes
    its parts ready-made (``build_analyzer`` makes them from the ``[faces]`` settings).

    Args:
        detector: any ``FaceDetector``.
        tracker: ties detections to tracks and smooths their landmarks (``build_tracker``); reset at
            every scene cut.
        cuts: says which frames start a new scene.
        detect_every: run the detector every N frames (1 = every frame).
        verifier: checks a track's hits until ``verify_hits`` of them pass (``TrackedFace.verified_hits``);
            None: every hit counts as verified.
        verify_hits: verified hits a track needs (the gate's confirmation window); later hits are not checked.
    """

    def __init__(
        self,
        detector: FaceDetector,
        *,
        tracker: FaceTracker,
        cuts: SceneCutDetector,
        detect_every: int = 1,
        verifier: FaceVerifier | None = None,
        verify_hits: int = 1,
    ):
        if detect_every < 1 or verify_hits < 1:
            raise InputError(f"detect_every and verify_hits must be >= 1, got {detect_every}, {verify_hits}")
        self.detector, self.tracker, self.cuts = detector, tracker, cuts
        self.detect_every = int(detect_every)
        self._t = 0  # index of the next frame
        self._last_detect: int | None = None
        self.verifier, self.verify_hits = verifier, int(verify_hits)
        self._verified: dict[int, int] = {}  # track id -> verified hits so far (up to verify_hits)

    def process(self, images: Sequence[np.ndarray]) -> list[FrameFaces]:
        """Analyse the next frames of the stream (uint8 [H, W, 3] RGB each); one ``FrameFaces`` per image."""
        cuts = [self.cuts.is_cut(im) for im in images]
        due, last = [], self._last_detect
        for k, cut in enumerate(cuts):
            t = self._t + k
            if cut or last is None or t - last >= self.detect_every:
                due.append(k)
                last = t
        found = dict(zip(due, self.detector.detect([images[k] for k in due]))) if due else {}
        self._last_detect = last

        out = []
        for k, cut in enumerate(cuts):
            t = self._t + k
            if cut:
                self.tracker.reset()
            faces = self.tracker.update(found.get(k), t, period=self.detect_every)
            out.append(FrameFaces(faces=self._count_verified(images[k], faces, hit=k in found), scene_cut=cut,
                                  detections=found.get(k)))
        self._t += len(images)
        return out

    def _count_verified(self, image: np.ndarray, faces: list[TrackedFace], *, hit: bool) -> list[TrackedFace]:
        """``faces`` with ``verified_hits`` set, after verifying this frame's hits that still need it."""
        if self.verifier is None:
            return [replace(face, verified_hits=face.hits) for face in faces]
        counts = {face.track_id: self._verified.get(face.track_id, 0) for face in faces}  # ended tracks go
        due = [face for face in faces if hit and face.missed_runs == 0 and counts[face.track_id] < self.verify_hits]
        verdicts = self.verifier.verify(image, [face.detection.landmarks for face in due]) if due else []
        for face, ok in zip(due, verdicts):
            counts[face.track_id] += int(ok)
        self._verified = counts
        return [replace(face, verified_hits=counts[face.track_id]) for face in faces]


def build_tracker(detect_every: int = 1, *, smooth: float = 1.0, coast_frames: int = 1,
                  start_threshold: float = 0.0) -> FaceTracker:
    """The tracker for a detector that runs every ``detect_every`` frames.

    Args:
        smooth: landmark smoothing strength (0 = off, 1 = default).
        coast_frames: frames a track that the detector lost is still output (its fade-out).
        start_threshold: lowest detection score that starts a track; weaker detections only keep
            tracks alive (0 = every detection may start one).
    """
    # A lost track's id is kept longer than it is shown, so a face that returns keeps its id.
    hit_counter_max = max(15, 2 * detect_every, coast_frames + detect_every + 1)
    return FaceTracker(smoother=LandmarkSmoother(smooth) if smooth > 0 else None, hit_counter_max=hit_counter_max,
                       coast_frames=coast_frames, start_threshold=start_threshold)


def build_analyzer(settings: FaceSettings, detector: FaceDetector, *, verifier: FaceVerifier | None = None,
                   detect_every: int | None = None, still: bool = False) -> FaceAnalyzer:
    """The analyzer the ``[faces]`` section describes (``detect_every``, ``smooth``, ``fade_frames``,
    ``start_threshold``, ``confirm_frames``), around ``detector`` and ``verifier``.

    ``detect_every`` overrides the section's; ``still`` (a picture) confirms a face on its first hit.
    """
    every = detect_every or settings.detect_every
    tracker = build_tracker(every, smooth=settings.smooth, coast_frames=settings.fade_frames,  # carried while it fades
                            start_threshold=settings.start_threshold)
    return FaceAnalyzer(detector, tracker=tracker, cuts=SceneCutDetector(), detect_every=every, verifier=verifier,
                        verify_hits=1 if still else settings.confirm_frames)
