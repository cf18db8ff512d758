"""Whose faces are restored and whose are hidden: a selection of track ids, and the boxes to hide in a frame."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..types import Detection, TrackedFace
from .redact import _SAME_FACE_IOU, iou


@dataclass(frozen=True)
class TrackSelection:
    """The tracks whose faces are restored.

    Attributes:
        only: these track ids only; None: every track.
        excluded: never these track ids.
    """

    only: frozenset[int] | None = None
    excluded: frozenset[int] = frozenset()

    def restores(self, track_id: int) -> bool:
        return (self.only is None or track_id in self.only) and track_id not in self.excluded

    @property
    def everyone(self) -> bool:
        return self.only is None and not self.excluded


EVERY_TRACK = TrackSelection()


def parse_track_ids(text: str) -> frozenset[int]:
    """Track ids written as "3,7" (spaces allowed).

    Raises:
        InputError: not a comma-separated list of non-negative integers.
    """
    parts = [part.strip() for part in text.split(",")]
    if not parts or any(not part.isdigit() for part in parts):
        raise InputError(f"track ids must be non-negative integers separated by commas, got '{text}'")
    return frozenset(int(part) for part in parts)


def boxes_to_hide(mode: str, found: Sequence[Detection], tracked: Iterable[TrackedFace],
                  selection: TrackSelection) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The face boxes to hide in one frame, and those to keep visible (the selected faces, with "others").

    Args:
        mode: "all" (every face) or "others" (every face but those of the selected tracks).
        found: the hiding detector's detections in the frame.
        tracked: the frame's tracked faces (carried ones too: a face between detector runs).
        selection: the tracks restored; with "others" their faces stay visible.
    """
    tracked = list(tracked)
    kept = [face.detection.box for face in tracked if mode == "others" and selection.restores(face.track_id)]
    hidden = [face.detection.box for face in tracked if not (mode == "others" and selection.restores(face.track_id))]
    hidden += [d.box for d in found if not any(iou(d.box, box) >= _SAME_FACE_IOU for box in kept)]
    return hidden, kept
