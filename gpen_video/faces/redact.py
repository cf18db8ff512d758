"""Hiding faces: the head region around a detection, the filters that hide it, and a look-ahead
``Redactor`` that covers each face from a little before its first detection to a little after its last.

Recall comes first. Every detection is hidden from the frame it is found in (no confirmation), over the
whole head with a margin; detections are linked into face tracks by overlap, so that a face the detector
misses for a few frames stays hidden across the gap (also where it moved: on the line between the two
detections), and each face is also hidden ``before`` frames before its first detection (the redactor holds
that many frames back) and ``after`` frames after its last (also where its last speed takes it). Regions
held over frames where the face was not found grow a little per frame, for the motion not seen. The hidden
picture fades into its surroundings over a narrow band outside the region: a hard straight border next to
a hand or hair is what a detector takes for a face's edge. Every few frames a ``look`` (the same detector,
at a larger size) searches the frame as hidden so far, and what it finds is hidden like a detection: faces
too small for the detections given, and a face too blurred to be found that hiding its neighbours made findable.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import cv2
import numpy as np

from ..types import Detection, RedactionAudit, TrackedFace
from .redact_settings import REDACT_STYLES
from .select import TrackSelection

Item = TypeVar("Item")

# The head around a detection box, as fractions of the box's width (sides) and height (top, bottom):
# RetinaFace boxes run from the brows to the chin, so hair, ears and the top of the head are outside.
_HEAD_SIDE, _HEAD_TOP, _HEAD_BOTTOM = 0.3, 0.5, 0.35
_HELD_GROWTH = 0.03  # a held box grows by this fraction of its side per frame away from its detection
_LINK_IOU = 0.1  # head regions that overlap this much in consecutive detections are one face
# Blur: the head is shrunk to this many pixels across and enlarged again, which leaves no feature a
# detector can find; pixelate keeps this many blocks across.
_BLUR_CELLS, _PIXEL_CELLS = 3, 5
FEATHER = 0.1  # the hidden picture fades out over this fraction of the region's side outside it
_SAME_FACE_IOU = 0.3  # a box that overlaps a face kept visible this much is that face

Look = Callable[[np.ndarray], Sequence[np.ndarray]]  # uint8 [H, W, 3] -> face boxes (x0, y0, x1, y1)


def head_region(box: np.ndarray, margin: float) -> np.ndarray:
    """The whole head around a face detection box, plus ``margin``: float32 [4] (x0, y0, x1, y1).

    Args:
        box: float [4] (x0, y0, x1, y1) in frame pixels, as detectors give.
        margin: extra border on every side, as a fraction of the box's width (sides) and height.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    side, top, bottom = _HEAD_SIDE + margin, _HEAD_TOP + margin, _HEAD_BOTTOM + margin
    return np.array([x0 - side * w, y0 - top * h, x1 + side * w, y1 + bottom * h], np.float32)


def grown(region: np.ndarray, frames: int) -> np.ndarray:
    """``region`` widened by ``_HELD_GROWTH`` of its side per frame on every side (motion not seen)."""
    x0, y0, x1, y1 = region
    grow = _HELD_GROWTH * frames
    dx, dy = grow * (x1 - x0), grow * (y1 - y0)
    return np.array([x0 - dx, y0 - dy, x1 + dx, y1 + dy], np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def boxes_to_hide(mode: str, found: Sequence[Detection], tracked: Sequence[TrackedFace],
                  selection: TrackSelection) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The face boxes to hide in one frame, and those to keep visible (the selected faces, with "others").

    Args:
        mode: "all" (every face) or "others" (every face but those of the selected tracks).
        found: the hiding detector's detections in the frame.
        tracked: the frame's tracked faces (carried ones too: a face between detector runs).
        selection: the tracks restored; with "others" their faces stay visible.
    """
    shown = [mode == "others" and selection.restores(face.track_id) for face in tracked]
    kept = [face.detection.box for face, keep in zip(tracked, shown) if keep]
    hidden = [d.box for d in found if not any(iou(d.box, box) >= _SAME_FACE_IOU for box in kept)]
    # A tracked face is hidden by its own box only where the detector did not find it (carried between runs).
    hidden += [face.detection.box for face, keep in zip(tracked, shown)
               if not keep and not any(iou(face.detection.box, box) >= _SAME_FACE_IOU for box in hidden)]
    return hidden, kept


def hide(image: np.ndarray, regions: Sequence[np.ndarray], style: str) -> np.ndarray:
    """A copy of ``image`` (uint8 [H, W, 3]) with every region (x0, y0, x1, y1, clipped to the frame) hidden.

    ``style``: "blur" (shrunk to a few pixels and enlarged: a smooth blob of the head's colours),
    "pixelate" (a few coarse blocks) or "fill" (the region's mean colour).

    Raises:
        ValueError: an unknown style.
    """
    if style not in REDACT_STYLES:
        raise ValueError(f"redact style must be one of {', '.join(REDACT_STYLES)}, got {style!r}")
    out = image.copy()
    height, width = image.shape[:2]
    for region in regions:
        band = FEATHER * float(max(region[2] - region[0], region[3] - region[1]))
        x0, y0 = max(int(np.floor(region[0] - band)), 0), max(int(np.floor(region[1] - band)), 0)
        x1, y1 = min(int(np.ceil(region[2] + band)), width), min(int(np.ceil(region[3] + band)), height)
        if x1 <= x0 or y1 <= y0:
            continue
        roi = out[y0:y1, x0:x1]
        cover = _hidden(roi, style)
        # Inside the region the cover replaces the pixels; only the band around it is blended.
        wx = _soft_edge(np.arange(x0, x1) + 0.5, region[0], region[2], band)
        wy = _soft_edge(np.arange(y0, y1) + 0.5, region[1], region[3], band)
        ix, iy = np.flatnonzero(wx == 1.0), np.flatnonzero(wy == 1.0)
        for rows, cols in _band_strips(len(wy), len(wx), iy, ix):
            weight = np.outer(wy[rows], wx[cols])
            roi[rows, cols] = cv2.blendLinear(np.ascontiguousarray(cover[rows, cols]), np.ascontiguousarray(roi[rows, cols]),
                                              weight, 1.0 - weight)
        if ix.size and iy.size:
            roi[iy[0] : iy[-1] + 1, ix[0] : ix[-1] + 1] = cover[iy[0] : iy[-1] + 1, ix[0] : ix[-1] + 1]
    return out


def _soft_edge(at: np.ndarray, low: float, high: float, band: float) -> np.ndarray:
    """float32 weights of the positions ``at``: 1 inside [low, high], falling to 0 over ``band`` outside it."""
    outside = np.maximum(low - at, at - high).clip(0)
    return np.clip(1.0 - outside / max(band, 1e-6), 0.0, 1.0).astype(np.float32)


def _band_strips(height: int, width: int, rows: np.ndarray, cols: np.ndarray) -> list[tuple[slice, slice]]:
    """The (rows, columns) slices of a [height, width] patch outside its fully covered part ``rows`` x ``cols``."""
    if not rows.size or not cols.size:
        return [(slice(0, height), slice(0, width))]
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    strips = [(slice(0, top), slice(0, width)), (slice(bottom, height), slice(0, width)),
              (slice(top, bottom), slice(0, left)), (slice(top, bottom), slice(right, width))]
    return [(r, c) for r, c in strips if r.stop > r.start and c.stop > c.start]


def _hidden(roi: np.ndarray, style: str) -> np.ndarray:
    height, width = roi.shape[:2]
    if style == "fill":
        return np.broadcast_to(roi.reshape(-1, 3).mean(0).round().astype(np.uint8), roi.shape)
    cells = _BLUR_CELLS if style == "blur" else _PIXEL_CELLS
    # A few cells' means need not read every pixel: every step-th row and column gives the same colours.
    step = max(1, min(height, width) // (16 * cells))
    small = cv2.resize(roi[::step, ::step], (max(1, min(cells, width)), max(1, min(cells, height))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR if style == "blur" else cv2.INTER_NEAREST)


def _on_line(pa: int, a: np.ndarray, pb: int, b: np.ndarray, position: int) -> np.ndarray:
    """The region at ``position`` on the straight line through region ``a`` at ``pa`` and ``b`` at ``pb``."""
    return a + (b - a) * np.float32((position - pa) / (pb - pa))


@dataclass
class _Face:
    """One face's detections (head regions) by frame position, for the frames still in reach."""

    regions: dict[int, np.ndarray] = field(default_factory=dict)
    last: int = -1  # position of the latest detection

    def around(self, position: int, before: int, after: int) -> list[np.ndarray]:
        """Where the face may be at ``position``, a frame without a detection of it (none if out of reach).

        Held over from the latest detection up to ``after`` frames back and from the earliest up to
        ``before`` frames on, grown for the motion not seen; held on one side only, also moved on at the
        face's speed between its two nearest detections; between two detections, also on the line between them.
        """
        past = [p for p in self.regions if position - after <= p < position]
        future = [p for p in self.regions if position < p <= position + before]
        out = []
        if past:
            p = max(past)
            out.append(grown(self.regions[p], position - p))
            earlier = [q for q in self.regions if q < p]
            if earlier and not future:
                q = max(earlier)
                out.append(grown(_on_line(q, self.regions[q], p, self.regions[p], position), position - p))
        if future:
            f = min(future)
            out.append(grown(self.regions[f], f - position))
            later = [q for q in self.regions if q > f]
            if later and not past:
                q = min(later)
                out.append(grown(_on_line(f, self.regions[f], q, self.regions[q], position), f - position))
        if past and future:
            p, f = max(past), min(future)
            between = _on_line(p, self.regions[p], f, self.regions[f], position)
            out.append(grown(between, min(position - p, f - position)))
        return out


@dataclass
class _Pending(Generic[Item]):
    position: int
    index: int
    item: Item
    image: np.ndarray


class Redactor(Generic[Item]):
    """Hides faces in a stream of frames, releasing each frame ``before`` frames after it came in.

    ``push`` one frame at a time, in order, with its face detection boxes; it returns the frames now
    complete (the item given with each, and its image with the faces hidden); ``flush`` returns the rest
    at the end of the stream. Not thread-safe: one caller.

    Args:
        style: "blur", "pixelate" or "fill" (``hide``).
        margin: border around each head (``head_region``).
        before: frames hidden before a face's first detection; the look-ahead, so the delay in frames.
        after: frames hidden after a face's last detection. A gap of up to ``before + after`` frames in
            a face's detections is covered from both sides.
        look: finds faces in a frame hidden with what is known when it comes in (``push``): faces too small
            for the detections given, and faces that hiding their neighbours made findable. What it finds is
            hidden like a detection, in this frame and around it. None: no look.
        look_every: frames between two looks (and a look at every scene cut), at most ``before + 1`` and
            ``after + 1``, so that a face found by the look alone is hidden from the frame it appears in.
    """

    def __init__(self, *, style: str = "blur", margin: float = 0.15, before: int = 8, after: int = 12,
                 look: Look | None = None, look_every: int = 1) -> None:
        if before < 0 or after < 0 or look_every < 1:
            raise ValueError(f"before and after must be >= 0 and look_every >= 1, got {before}, {after}, {look_every}")
        if style not in REDACT_STYLES:
            raise ValueError(f"redact style must be one of {', '.join(REDACT_STYLES)}, got {style!r}")
        self.style, self.margin, self.before, self.after = style, float(margin), int(before), int(after)
        self.look, self.look_every = look, min(int(look_every), self.before + 1, self.after + 1)
        self.audit = RedactionAudit()
        self._pending: deque[_Pending[Item]] = deque()
        self._faces: list[_Face] = []
        self._position = 0
        self._looked = -self.look_every  # position of the latest look
        self._bridged: set[int] = set()  # positions
        self._index_of: dict[int, int] = {}  # position -> the caller's frame index, while it may be bridged

    def push(self, item: Item, index: int, image: np.ndarray, boxes: Sequence[np.ndarray],
             keep: Sequence[np.ndarray] = (), *, cut: bool = False) -> list[tuple[Item, np.ndarray]]:
        """Add the next frame.

        Args:
            item: returned with the frame when it is released.
            index: the frame's index, for the audit's bridged frames.
            image: uint8 [H, W, 3], not modified.
            boxes: the face detection boxes (x0, y0, x1, y1) of this frame to hide.
            keep: the boxes of faces to leave visible, which the look must not hide.
            cut: the frame starts a new scene (it is looked at, whatever ``look_every``).
        """
        position = self._position
        self._position += 1
        self._index_of[position] = index
        self._link(position, [head_region(box, self.margin) for box in boxes])
        if self.look is not None and (cut or position - self._looked >= self.look_every):
            self._looked = position
            self._look(position, image, keep)
        self._pending.append(_Pending(position, index, item, image))
        released = []
        while len(self._pending) > self.before:
            released.append(self._release(self._pending.popleft()))
        return released

    def flush(self) -> list[tuple[Item, np.ndarray]]:
        """The frames still held, hidden with what is known; the redactor is then ready for a new stream."""
        released = [self._release(pending) for pending in self._pending]
        self._pending.clear()
        return released

    def _look(self, position: int, image: np.ndarray, keep: Sequence[np.ndarray]) -> None:
        """Hide, from ``position`` on, what the look finds in ``image`` hidden as far as is known now."""
        assert self.look is not None
        regions = self._regions_at(position)
        seen = hide(image, regions, self.style) if regions else image
        found = [box for box in self.look(seen) if not any(iou(box, k) >= _SAME_FACE_IOU for k in keep)]
        self.audit.found_again += len(found)
        self._link(position, [head_region(box, self.margin) for box in found], counted=False)

    def _link(self, position: int, regions: list[np.ndarray], *, counted: bool = True) -> None:
        """Give each region to the face whose latest region overlaps it most, or to a new face (``counted``
        in the audit's faces); a face already given a region at ``position`` takes no other."""
        reach = self.before + self.after + 1
        candidates = [face for face in self._faces if 0 < position - face.last <= reach]
        taken: set[int] = set()
        for region in regions:
            best, best_iou = None, _LINK_IOU
            for k, face in enumerate(candidates):
                overlap = iou(grown(face.regions[face.last], position - face.last), region)
                if k not in taken and overlap >= best_iou:
                    best, best_iou = k, overlap
            if best is None:
                face = _Face()
                self._faces.append(face)
                self.audit.faces += int(counted)
            else:
                taken.add(best)
                face = candidates[best]
                if counted:  # the look's finds are apart by design: only the detections' gaps are audited
                    self._mark_bridged(range(face.last + 1, position))
            face.regions[position] = region
            face.last = position

    def _mark_bridged(self, gap: range) -> None:
        """A face found again after ``gap`` (positions): those frames were covered from both sides."""
        oldest = self._pending[0].position if self._pending else self._position
        for position in gap:
            if position >= oldest:
                self._bridged.add(position)  # counted when it is released
            else:
                self.audit.bridged.append(self._index_of[position])

    def _regions_at(self, position: int) -> list[np.ndarray]:
        regions = []
        for face in self._faces:
            if position in face.regions:
                regions.append(face.regions[position])
            else:
                regions += face.around(position, self.before, self.after)
        return regions

    def _release(self, pending: _Pending[Item]) -> tuple[Item, np.ndarray]:
        position = pending.position
        regions = self._regions_at(position)
        if regions:
            self.audit.regions += len(regions)
            self.audit.frames += 1
        if position in self._bridged:
            self.audit.bridged.append(pending.index)
            self._bridged.discard(position)
        self._forget_before(position - self.after)
        return pending.item, hide(pending.image, regions, self.style) if regions else pending.image

    def _forget_before(self, position: int) -> None:
        """Drop what no frame still to be released can need: regions older than ``position`` (but each
        face's latest two, which say where it was going)."""
        for face in self._faces:
            for p in sorted(face.regions)[:-2]:
                if p < position:
                    del face.regions[p]
        reach = self.before + self.after + 1
        self._faces = [face for face in self._faces if self._position - face.last <= reach + 1]
        for p in [p for p in self._index_of if p < position]:
            del self._index_of[p]
