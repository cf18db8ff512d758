"""Which tracked faces get restored, and how strongly: confirmation, fades and the pose gate.

A restorer paints a plausible face onto whatever it is given, so a false detection puts a face where
there is none. The tracker already demands a strong detection to start a track (hysteresis); this
module is the rest of the policy, per track and frame, turned into a paste strength in [0, 1]:

- **Confirmation.** A track is restored only once it has ``confirm_frames`` verified detector hits
  (``TrackedFace.verified_hits``: hits that passed the second look of ``faces.verify``), or one verified
  hit scoring ``confirm_score`` or more. Until then its strength is 0: the original pixels stay. Only
  frames already seen decide, so the output is never held back: a real face shows unrestored for its
  first few frames instead.
- **Fades.** From the frame a track is confirmed, its level rises by 1/``fade_frames`` per frame up to
  1. From the first detector run that misses it the level falls by the same step; the tracker carries a
  lost face ``fade_frames`` frames on predicted landmarks, so the level reaches 0 before the face is
  dropped. A face found again rises again. Both ramps are monotone; ``fade_frames`` 0 switches at once.
- **Pose.** The level is multiplied by a weight falling linearly from 1 at ``yaw_full`` degrees to 0 at
  ``yaw_zero`` degrees of yaw (``pose.estimate_yaw``): GPEN hallucinates on strong profiles.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..types import TrackedFace
from .pose import estimate_yaw

if TYPE_CHECKING:
    from .settings import FaceSettings


def pose_weight(yaw: float, yaw_full: float, yaw_zero: float) -> float:
    """Weight in [0, 1] of a face turned ``yaw`` degrees: 1 up to ``yaw_full``, 0 from ``yaw_zero`` on,
    linear in between (a step when the two are equal)."""
    if yaw <= yaw_full:
        return 1.0
    if yaw >= yaw_zero:
        return 0.0
    return (yaw_zero - yaw) / (yaw_zero - yaw_full)


@dataclass(frozen=True)
class GateDecision:
    """One face's paste strength in [0, 1] and why it is below 1: any of "unconfirmed" (not confirmed
    yet), "fade" (fading in or out) and "pose" (turned away), in that order; empty at full strength."""

    strength: float
    held: tuple[str, ...] = ()


@dataclass
class _TrackGate:
    confirmed: bool = False
    steps: int = 0  # fade level in steps of 1/fade_frames: exact ramps, no float drift


class FaceGate:
    """Per-track confirmation and fade state; one ``strengths`` call per frame, in frame order.

    Args:
        confirm_frames: verified detector hits that confirm a track (>= 1).
        confirm_score: a single verified hit scoring at least this confirms at once; above 1 none does.
        fade_frames: frames of a fade in or out (0 = switch at once).
        yaw_full, yaw_zero: degrees, 0 <= yaw_full <= yaw_zero <= 90; see ``pose_weight``.
    """

    def __init__(
        self,
        *,
        confirm_frames: int = 3,
        confirm_score: float = 0.98,
        fade_frames: int = 3,
        yaw_full: float = 45.0,
        yaw_zero: float = 75.0,
    ) -> None:
        if confirm_frames < 1 or fade_frames < 0:
            raise ValueError(f"need confirm_frames >= 1 and fade_frames >= 0, got {confirm_frames}, {fade_frames}")
        if not 0.0 <= yaw_full <= yaw_zero <= 90.0:
            raise ValueError(f"need 0 <= yaw_full <= yaw_zero <= 90, got {yaw_full}, {yaw_zero}")
        self.confirm_frames, self.confirm_score = int(confirm_frames), float(confirm_score)
        self.fade_frames = int(fade_frames)
        self.yaw_full, self.yaw_zero = float(yaw_full), float(yaw_zero)
        self._tracks: dict[int, _TrackGate] = {}

    def strengths(self, faces: Sequence[TrackedFace]) -> list[float]:
        """Paste strength in [0, 1] of each face of the next frame, in the order given (``decide``'s strengths)."""
        return [decision.strength for decision in self.decide(faces)]

    def decide(self, faces: Sequence[TrackedFace]) -> list[GateDecision]:
        """Paste strength of each face of the next frame and why it is below 1, in the order given.

        Advances every track in ``faces`` by one frame and forgets the tracks that are not there
        (ended, or reset at a scene cut: the tracker never reuses an id).
        """
        tracks = {face.track_id: self._tracks.get(face.track_id) or _TrackGate() for face in faces}
        self._tracks = tracks
        out = []
        for face in faces:
            track = tracks[face.track_id]
            found = face.missed_runs == 0
            if not track.confirmed:
                track.confirmed = face.verified_hits >= self.confirm_frames or (
                    found and face.verified_hits >= 1 and face.detection.score >= self.confirm_score
                )
            level = self._level(track, rising=track.confirmed and found)
            weight = pose_weight(estimate_yaw(face.landmarks), self.yaw_full, self.yaw_zero)
            held = (("unconfirmed",) if not track.confirmed else ("fade",) if level < 1.0 else ()) + (
                ("pose",) if weight < 1.0 else ())
            out.append(GateDecision(level * weight, held))
        return out

    def _level(self, track: _TrackGate, *, rising: bool) -> float:
        """Step the track's fade level up or down by one frame; returns it in [0, 1]."""
        if self.fade_frames == 0:
            return 1.0 if rising else 0.0
        track.steps = min(track.steps + 1, self.fade_frames) if rising else max(track.steps - 1, 0)
        return track.steps / self.fade_frames


def build_gate(settings: FaceSettings) -> FaceGate:
    """The gate the ``[faces]`` section describes (``confirm_frames``, ``confirm_score``,
    ``fade_frames``, ``yaw_full``, ``yaw_zero``)."""
    return FaceGate(confirm_frames=settings.confirm_frames, confirm_score=settings.confirm_score,
                    fade_frames=settings.fade_frames, yaw_full=settings.yaw_full, yaw_zero=settings.yaw_zero)
