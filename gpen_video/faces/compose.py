"""What a frame's restored faces become before they are pasted: the per-track and per-scene state of a stream.

The engine only moves frames; everything it used to remember from one frame to the next about the
faces in them lives here, in one ``FaceCompositor`` per stream:

- the gate (``faces.gate``): confirmation, fades and the pose weight, turned into each face's paste strength;
- the scene's colour (``faces.monochrome``): in a monochrome scene a restored face keeps the input's colour;
- temporal blending (``faces.temporal``): each track's restorer residual smoothed over its earlier frames;
- what the frame path needs to paste each face: the crop softened for its size in the output frame
  (``faces.paste.soften_small_face``), the affine into the output frame, the paste masks (face parsing,
  when a parser is given) and the strength of the source's fine detail (``faces.detail``).

A scene cut starts every track's history afresh; a track absent from a frame is forgotten (the tracker
never reuses an id). The compositor keeps no pixels of its own besides the blender's history.

The crops stay where the frame path keeps them: numpy arrays here (``HOST_CROP_OPS``), or tensors on a
device with a resident device path (``gpu.crops.TensorCropOps``); ``protocols.CropOps`` is what differs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..types import AlignedFace, PastedFace, TrackedFace
from .align import affine_scale, scale_affine
from .detail import detail_strength
from .gate import GateDecision, build_gate
from .monochrome import SceneColour, keep_luminance
from .parsing import FaceParser
from .select import EVERY_TRACK, TrackSelection
from .paste import soften_small_face
from .temporal import TemporalBlender

if TYPE_CHECKING:
    from ..protocols import CropOps
    from .settings import FaceSettings


class HostCropOps:
    """``protocols.CropOps`` for numpy crops."""

    def stack(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack(crops)

    def keep_luminance(self, restored: np.ndarray, source: np.ndarray) -> np.ndarray:
        return keep_luminance(restored, source)

    def soften(self, crop: np.ndarray, face_size_px: float) -> np.ndarray:
        return soften_small_face(crop, face_size_px)

    def blender(self, strength: float) -> TemporalBlender:
        return TemporalBlender(strength)

    def to_host(self, crops: np.ndarray) -> np.ndarray:
        return crops


HOST_CROP_OPS = HostCropOps()


@dataclass(frozen=True)
class Composition:
    """One frame's faces, ready for a frame path's ``paste``, and what frame observers are shown.

    Attributes:
        crops: per face (uint8 [S, S, 3] crop to paste, where the ``CropOps`` keep crops; float32 [2, 3]
            output frame -> crop affine).
        alphas: per face paste strength in [0, 1] (0: the original pixels stay).
        masks: float32 [N, S, S] in [0, 1] paste masks from face parsing, or None for the soft square mask.
        detail: per face strength in [0, 1] of the source's fine detail to keep (``faces.detail``), or
            None when detail transfer is off.
        faces: per face, for observers: tracked, aligned, restored (after the scene's colour), blended, alpha
            and why it is below full strength (``held``).
    """

    crops: list[tuple[Any, np.ndarray]]
    alphas: list[float]
    masks: np.ndarray | None
    detail: list[float] | None
    faces: list[PastedFace]


class FaceCompositor:
    """Turns each frame's restored crops into what is pasted, keeping the stream's per-track state.

    One ``compose`` call per frame, in frame order, from one thread; ``set_strength`` may be called from
    any thread meanwhile (live mode's controls).

    Args:
        settings: the ``[faces]`` settings: ``temporal`` (blending strength in [0, 1]), ``alpha``,
            ``color``, ``detail_transfer`` and the gate's ``confirm_frames``, ``confirm_score``,
            ``fade_frames``, ``yaw_full``, ``yaw_zero``.
        parser: gives the paste masks (``masks(crops) -> float32 [N, S, S]``); None: the soft square mask.
        scale: output side / input side (an upsampler's factor, >= 1): crops are pasted straight into
            the enlarged frame.
        still: a picture, with no later frames to confirm a face in or fade it over: every face is
            pasted at once at full strength.
        selection: the tracks whose faces are restored; the others are pasted at strength 0 (their pixels stay).
        crop_ops: where the crops are and how to work on them (the frame path's ``crop_ops``); on a device,
            no parser (its masks are host arrays).
    """

    def __init__(self, settings: FaceSettings, *, parser: FaceParser | None = None, scale: int = 1,
                 still: bool = False, selection: TrackSelection = EVERY_TRACK,
                 crop_ops: CropOps = HOST_CROP_OPS) -> None:
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        self._gate_settings = replace(settings, confirm_frames=1, fade_frames=0) if still else settings
        self.alpha = float(settings.alpha)
        self.keep_detail = bool(settings.detail_transfer)
        self.parser = parser
        self.scale = int(scale)
        self.selection = selection
        self._ops = crop_ops
        self._blender = crop_ops.blender(settings.temporal)
        self._colour_mode = settings.color
        self.reset()

    @property
    def strength(self) -> float:
        """The temporal blending strength in [0, 1]."""
        return self._blender.strength

    def set_strength(self, strength: float) -> None:
        """Change the temporal blending strength (in [0, 1]), also while frames are composed.

        Raises:
            ValueError: outside [0, 1].
        """
        self._blender.set_strength(strength)

    def reset(self) -> None:
        """Forget every track and the scene's colour, as at the start of a stream (the strength stays)."""
        self._blender.reset()
        self._gate = build_gate(self._gate_settings)
        self._colour = SceneColour(self._colour_mode)

    def compose(self, image: np.ndarray, tracked: Sequence[TrackedFace], faces: Sequence[AlignedFace],
                restored: Sequence[np.ndarray], scene_cut: bool) -> Composition:
        """The next frame's faces, ready to paste.

        Args:
            image: uint8 [H, W, 3] RGB, the input frame (not enlarged).
            tracked: the frame's tracked faces; ``faces[k]`` is ``tracked[k]`` aligned.
            faces: the aligned faces (crops uint8 [S, S, 3], frame -> crop affines in input pixels).
            restored: uint8 [S, S, 3] the restorer's output for each of ``faces`` (like the crops: arrays,
                or tensors with device ``crop_ops``).
            scene_cut: the frame starts a new scene: every track's history is dropped first.
        """
        if scene_cut:
            self._blender.reset()
        self._blender.retain({face.track_id for face in faces})
        decisions = [decision if self.selection.restores(face.track_id) else GateDecision(0.0, ("not selected",))
                     for face, decision in zip(tracked, self._gate.decide(tracked))]
        alphas = [self.alpha * decision.strength for decision in decisions]
        if self._colour.keeps_input_colour(image, scene_cut):
            restored = [self._ops.keep_luminance(crop, face.crop) for face, crop in zip(faces, restored)]
        blended = self._blender.blend_faces([face.track_id for face in faces], [face.crop for face in faces], restored,
                                            [affine_scale(face.affine) for face in faces])
        crops = [(self._ops.soften(crop, _box_side(face) * self.scale), scale_affine(face.affine, self.scale))
                 for face, crop in zip(faces, blended)]
        masks = self.parser.masks(self._ops.stack([crop for crop, _ in crops])) if crops and self.parser else None
        detail = [detail_strength(affine_scale(face.affine)) for face in faces] if self.keep_detail else None
        pasted = [PastedFace(*parts, decision.held)
                  for *parts, decision in zip(tracked, faces, restored, blended, alphas, decisions)]
        return Composition(crops, alphas, masks, detail, pasted)


def _box_side(face: AlignedFace) -> float:
    """Longer side of the face's detection box, in frame pixels."""
    x0, y0, x1, y1 = face.box
    return float(max(x1 - x0, y1 - y0))
