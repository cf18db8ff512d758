"""Frame observers that jobs combine: several at once (``ObserverGroup``), per-face records (``FaceRecords``)."""
from __future__ import annotations

from collections.abc import Sequence

from ..faces.pose import estimate_yaw
from ..protocols import FrameObserver
from ..types import FrameResult, PastedFace


class ObserverGroup:
    """One ``FrameObserver`` that hands every frame to each of ``observers`` in turn."""

    def __init__(self, observers: Sequence[FrameObserver]) -> None:
        self.observers = list(observers)

    def observe(self, result: FrameResult, faces: Sequence[PastedFace]) -> None:
        for observer in self.observers:
            observer.observe(result, faces)


class FaceRecords:
    """Every face of every frame as the report's ``face_records`` (a ``FrameObserver``).

    One entry per frame: ``{"index", "seconds", "faces": [{"track_id", "box", "score", "yaw", "alpha",
    "enhanced", "verified_hits"}]}``, with ``box`` [x0, y0, x1, y1] in frame pixels, ``score`` the detector's confidence,
    ``yaw`` degrees from frontal (``faces.pose``), ``alpha`` the strength the face was pasted with and
    ``enhanced`` whether it was pasted at all (alpha > 0). Grows with the video: opt-in.
    """

    def __init__(self) -> None:
        self.frames: list[dict] = []

    def observe(self, result: FrameResult, faces: Sequence[PastedFace]) -> None:
        frame = result.frame
        self.frames.append({
            "index": frame.index,
            "seconds": frame.seconds,
            "faces": [{
                "track_id": face.tracked.track_id,
                "box": [round(float(v), 1) for v in face.aligned.box],
                "score": round(float(face.tracked.detection.score), 4),
                "yaw": round(estimate_yaw(face.tracked.landmarks), 1),
                "alpha": round(float(face.alpha), 3),
                "enhanced": face.alpha > 0,
                "verified_hits": face.tracked.verified_hits,
            } for face in faces],
        })
