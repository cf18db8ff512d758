"""Face tracking across frames (norfair) with stable ids, landmark smoothing and scene-cut detection.

Faces are tracked on their five landmarks; the distance between a detection and a track is the mean
landmark distance divided by the detection's face size, so one threshold fits tiny and large faces.
On frames where the detector does not run (``detections=None``), each carried face uses norfair's
Kalman estimate, i.e. the landmarks extrapolated at the track's constant velocity, which is then
smoothed like a detection; the box is the last detected box shifted by the same motion.

Hysteresis (ByteTrack-style): only a detection scoring at least ``start_threshold`` starts a track;
once started, a track is kept alive by any detection the detector lets through (its lower threshold).
A weaker detection that matches no track is never output: norfair may hold it as a candidate, which
becomes a track the first time a detection strong enough to start one matches it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from norfair import Detection as NfDetection
from norfair import Tracker
from norfair.distances import Distance

from ..types import Detection, TrackedFace
from .smooth import LandmarkSmoother


class LandmarkDistance(Distance):
    """Mean landmark distance between detections and tracks' estimates, in units of each detection's size.

    Vectorised over all detection-track pairs (one numpy expression per frame, not a Python call per pair).
    """

    def get_distances(self, objects, candidates) -> np.ndarray:
        """Matrix [len(candidates), len(objects)] of distances (norfair's ``Distance`` interface)."""
        if not objects or not candidates:
            return np.full((len(candidates or ()), len(objects)), np.inf, dtype=np.float32)
        points = np.stack([c.points for c in candidates])  # [C, 5, 2]
        estimates = np.stack([o.estimate for o in objects])  # [O, 5, 2]
        boxes = np.stack([c.data.box for c in candidates])
        sizes = np.maximum(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), 1.0)
        mean = np.linalg.norm(points[:, None] - estimates[None], axis=-1).mean(axis=-1)
        return (mean / sizes[:, None]).astype(np.float32)


@dataclass
class _TrackState:
    track_id: int
    last: Detection  # last matched detection
    hits: int = 1  # detector runs that matched it
    missed_runs: int = 0  # detector runs since the last match
    first_miss: int = 0  # frame of the first of those missed runs


class FaceTracker:
    """Tie detections to tracks with stable ids; smooth each track's landmarks.

    Args:
        smoother: landmark smoother shared by the tracks, or None for raw landmarks.
        distance_threshold: largest detection-track distance (face sizes) that may still match, per
            frame between detector runs.
        hit_counter_max: frames a track survives without detections (short occlusions); a track
            that comes back within them keeps its id.
        coast_frames: frames a track is still output, with predicted landmarks, from the first
            detector run that misses it (time to fade it out); 0 drops it at once.
        start_threshold: lowest detection score that starts a new track, in [0, 1].
    """

    def __init__(
        self,
        *,
        smoother: LandmarkSmoother | None = None,
        distance_threshold: float = 0.5,
        hit_counter_max: int = 15,
        coast_frames: int = 1,
        start_threshold: float = 0.0,
    ):
        if coast_frames < 0 or hit_counter_max <= coast_frames:
            raise ValueError(f"need 0 <= coast_frames < hit_counter_max, got {coast_frames} and {hit_counter_max}")
        self.smoother = smoother
        self.distance_threshold = distance_threshold
        self.hit_counter_max = hit_counter_max
        self.coast_frames = coast_frames
        self.start_threshold = start_threshold
        self._next_id = 0
        self._tracker = Tracker(
            distance_function="euclidean",  # a name here: norfair would wrap a callable as a slow per-pair one
            distance_threshold=distance_threshold,
            hit_counter_max=hit_counter_max,
            initialization_delay=0,  # a face is output from its first detection
        )
        self._tracker.distance_function = LandmarkDistance()  # once, before any frame: the vectorised distance
        self._states: dict[int, _TrackState] = {}  # keyed by norfair's object id

    def reset(self) -> None:
        """Forget every track (scene cut). New tracks get fresh ids, never reused."""
        self._tracker.tracked_objects = []
        self._states.clear()
        if self.smoother is not None:
            self.smoother.reset()

    def update(self, detections: list[Detection] | None, t: int, *, period: int = 1) -> list[TrackedFace]:
        """Advance to frame ``t``.

        Args:
            detections: this frame's detections, or None when the detector did not run on it.
            t: frame index, increasing.
            period: frames between detector runs; a hit must keep a track alive until the next run.

        Returns:
            The faces to process on this frame, ordered by track id, with their hit counts and
            missed detector runs (``TrackedFace.hits``, ``TrackedFace.missed_runs``).
        """
        nf_dets = None
        if detections is not None:
            nf_dets = [NfDetection(points=np.asarray(d.landmarks, np.float64), data=d) for d in detections]
        # Faces move further between sparse detector runs: widen the gate with the period.
        self._tracker.distance_threshold = self.distance_threshold * max(period, 1)
        active = self._tracker.update(detections=nf_dets, period=max(period, 1))
        matched = {id(d) for d in nf_dets} if nf_dets is not None else set()

        out: list[TrackedFace] = []
        for obj in active:
            state = self._states.get(obj.id)
            hit = id(obj.last_detection) in matched
            if state is None:
                if not hit or obj.last_detection.data.score < self.start_threshold:
                    continue  # not a track (yet): a weak detection only extends an existing one
                state = self._states[obj.id] = _TrackState(self._next_id, obj.last_detection.data, hits=0)
                self._next_id += 1
            if hit:
                state.last, state.missed_runs = obj.last_detection.data, 0
                state.hits += 1
                det = state.last
            else:
                if detections is not None:
                    state.missed_runs += 1
                    if state.missed_runs == 1:
                        state.first_miss = t
                if state.missed_runs and t - state.first_miss >= self.coast_frames:
                    continue
                det = _carried(state.last, obj.estimate)
            landmarks = det.landmarks
            if self.smoother is not None:
                landmarks = self.smoother.update(state.track_id, landmarks, t)
            out.append(TrackedFace(track_id=state.track_id, detection=det, landmarks=np.asarray(landmarks, np.float32),
                                   hits=state.hits, missed_runs=state.missed_runs))

        alive = {obj.id for obj in self._tracker.tracked_objects}
        for key in [k for k in self._states if k not in alive]:
            if self.smoother is not None:
                self.smoother.drop(self._states[key].track_id)
            del self._states[key]
        return sorted(out, key=lambda f: f.track_id)


def _carried(last: Detection, estimate: np.ndarray) -> Detection:
    """A detection carried to a frame without detector output: predicted landmarks, box moved along."""
    landmarks = np.asarray(estimate, np.float32)
    shift = (landmarks - last.landmarks).mean(0)
    box = last.box + np.concatenate([shift, shift]).astype(np.float32)
    return Detection(box=box, score=last.score, landmarks=landmarks)


class SceneCutDetector:
    """Flags a scene cut when a frame's colour histogram jumps.

    The distance is half the L1 distance between normalised 16-bin per-channel histograms of a 64x64
    thumbnail, in [0, 1]; motion and lighting drift move it little, a cut moves it a lot.

    Args:
        threshold: distance above which a frame starts a new scene; 0 disables detection.
    """

    BINS = 16
    THUMB = 64

    def __init__(self, threshold: float = 0.15):
        if threshold < 0:
            raise ValueError(f"scene-cut threshold must be >= 0, got {threshold}")
        self.threshold = threshold
        self._prev: np.ndarray | None = None

    def distance(self, image: np.ndarray) -> float:
        """Histogram distance in [0, 1] between ``image`` (uint8 [H, W, 3]) and the previous image seen; updates the state."""
        thumb = self.thumbnail(image)
        bins = (thumb.reshape(-1, 3) // (256 // self.BINS)).astype(np.int64)
        hist = np.stack([np.bincount(bins[:, c], minlength=self.BINS) for c in range(3)]).astype(np.float64)
        hist /= thumb.shape[0] * thumb.shape[1]
        prev, self._prev = self._prev, hist
        return 0.0 if prev is None else float(np.abs(hist - prev).sum() / 6.0)

    @classmethod
    def thumbnail(cls, image: np.ndarray) -> np.ndarray:
        """uint8 [THUMB, THUMB, 3] of ``image``: every step-th pixel first, keeping at least 2 * THUMB
        on the short side, then area-averaged. Area-averaging a whole 1080p frame at its non-integer
        ratio costs 5-6 ms; the subsampled frame (1/64 of the pixels at 1080p) gives the same histograms
        to within a few thousandths of distance in a tenth of the time."""
        step = max(1, min(image.shape[:2]) // (2 * cls.THUMB))
        return cv2.resize(image[::step, ::step], (cls.THUMB, cls.THUMB), interpolation=cv2.INTER_AREA)

    def is_cut(self, image: np.ndarray) -> bool:
        """True when ``image`` starts a new scene (never for the first image)."""
        d = self.distance(image)
        return self.threshold > 0 and d > self.threshold

    def reset(self) -> None:
        self._prev = None
