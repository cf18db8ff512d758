"""The face gallery for review: for every enhanced track, its best moment as original and restored crops.

A ``FaceGallery`` is a frame observer (``protocols.FrameObserver``). For each track it keeps the
best moment seen so far among the frames where the face was pasted (``PastedFace.alpha`` > 0):

    score = confidence · size · sharpness · frontality, each in [0, 1]
    size = min(1, box side / SIZE_FULL)           sharpness = v / (v + SHARPNESS_HALF)
    frontality = cos(yaw)                         v = variance of the Laplacian of the input crop

Memory is bounded: only the current best crops (original and restored, uint8 [S, S, 3] each) of
the tracks seen in the last ``evict_after`` frames are held; an older track's crops are written to the
gallery's temporary folder and dropped. ``close`` writes the index files and publishes the folder in
one rename, so a failed run leaves no half-written gallery. Layout of the folder::

    index.html   contact sheet: original beside restored, with timestamps (static HTML, no scripts)
    index.json   {"tool", "version", "source", "fingerprint", "tracks": [TrackRecord, ...]}
                 (fingerprint: ``faces.fingerprint.RunFingerprint``, what decided the track ids)
    index.csv    one row per track (``CSV_COLUMNS``)
    faces/track-<id>-original.png, faces/track-<id>-restored.png

Timestamps are the source's (pts × time base, in seconds, as ffprobe shows them); frame numbers
count the frames of the output video from 0.
"""
from __future__ import annotations

import csv
import dataclasses
import html
import json
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .._version import __version__
from ..faces.pose import estimate_yaw
from ..errors import GpenVideoError
from ..media.output import (check_folder_destination, commit, commit_folder, discard, discard_folder, temp_folder_for,
                           temp_path_for)
from ..types import FrameResult, PastedFace

SIZE_FULL = 256.0  # px: a face box this large or larger gets the full size term
SHARPNESS_HALF = 100.0  # Laplacian variance (128 px grey crop) that gives a sharpness term of 0.5
SHARPNESS_SIDE = 128  # px: crops are measured at this size, so all restorer sizes compare alike
EVICT_AFTER = 250  # frames a track may be unseen before its crops go to disk (10 s at 25 fps)
FACES_DIR = "faces"
CSV_COLUMNS = ("track_id", "first_seconds", "last_seconds", "frames", "enhanced_frames", "best_frame",
               "best_seconds", "box_x0", "box_y0", "box_x1", "box_y1", "confidence", "yaw", "sharpness",
               "moment_score", "original", "restored", "segment", "segment_track_id")


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of a uint8 [S, S, 3] RGB crop, measured at ``SHARPNESS_SIDE`` px grey."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    if grey.shape[0] != SHARPNESS_SIDE:
        grey = cv2.resize(grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def moment_score(confidence: float, box_side: float, sharp: float, yaw: float) -> float:
    """How good a moment is for review, in [0, 1]: confidence (0..1), box side (px), sharpness
    (``sharpness``; ``inf`` gives the bound for a perfectly sharp face), yaw (degrees) combined as in the
    module's docstring."""
    size = min(1.0, max(box_side, 0.0) / SIZE_FULL)
    sharp_term = 1.0 if math.isinf(sharp) else sharp / (sharp + SHARPNESS_HALF)
    return float(confidence * size * sharp_term * math.cos(math.radians(yaw)))


@dataclass
class TrackRecord:
    """One gallery entry: a track and its best moment, as written to ``index.json`` and ``index.csv``.

    Attributes:
        first_frame, last_frame, first_seconds, last_seconds: where the track was first and last seen
            (frame numbers of the output, source timestamps in seconds; None without timestamps).
        frames: frames the track was seen in; enhanced_frames: those where it was pasted (alpha > 0).
        best_frame, best_seconds, best_pts: the best moment; ``best_pts`` in ``time_base`` units.
        box: [x0, y0, x1, y1] of the face at the best moment, frame pixels.
        confidence, yaw, sharpness, moment_score, alpha: the best moment's measures.
        original, restored: the PNG crops, relative to the gallery folder.
        segment, segment_track_id: for a batch input split into segments, the segment (0-based) and
            the track's id inside it (tracks start over in every segment); None otherwise.
    """

    track_id: int
    first_frame: int
    last_frame: int
    first_seconds: float | None
    last_seconds: float | None
    frames: int
    enhanced_frames: int
    best_frame: int
    best_seconds: float | None
    best_pts: int | None
    time_base: str
    box: list[float]
    confidence: float
    yaw: float
    sharpness: float
    moment_score: float
    alpha: float
    original: str = ""
    restored: str = ""
    segment: int | None = None
    segment_track_id: int | None = None

    def csv_row(self) -> list[object]:
        values = dataclasses.asdict(self)
        values.update(zip(("box_x0", "box_y0", "box_x1", "box_y1"), self.box))
        return [values[column] for column in CSV_COLUMNS]


@dataclass
class _Track:
    """What the gallery holds for one track while the run goes on."""

    record: TrackRecord | None  # None until the face is first pasted
    first_frame: int
    first_seconds: float | None
    last_frame: int = 0
    last_seconds: float | None = None
    frames: int = 0
    enhanced_frames: int = 0
    last_seen: int = 0  # the gallery's frame counter
    crops: tuple[np.ndarray, np.ndarray] | None = None  # best (original, restored), not yet on disk


@dataclass
class GallerySummary:
    """A finished gallery: its folder, its entries, and how many tracks were never enhanced (left out)."""

    path: Path
    tracks: list[TrackRecord] = field(default_factory=list)
    skipped_tracks: int = 0


class FaceGallery:
    """Collects the best moment of every enhanced track and writes the gallery folder ``dest``.

    Use as a context manager (or call ``close``/``abort``): leaving the block with an error removes
    the temporary folder and leaves ``dest`` as it was.

    Args:
        dest: the gallery folder; checked now (before any work), written on ``close``.
        source: what the gallery is of (shown in the page title and ``index.json``).
        still: the source is a picture: the page shows no times or frame numbers.
        overwrite: replace a ``dest`` that holds files.
        inputs: the run's other files (its input, output, weights), which ``dest`` must not hold.
        evict_after: frames a track may go unseen before its crops are written out and freed.
        fingerprint: the run's input and tracking settings (``RunFingerprint.to_dict``), for ``index.json``.

    Raises:
        DestinationExists, InputError, DestinationUnwritable: see ``media.output.check_folder_destination``.
    """

    def __init__(self, dest: str | Path, *, source: str = "", still: bool = False, overwrite: bool = False,
                 inputs: Iterable[str | Path | None] = (), evict_after: int = EVICT_AFTER,
                 fingerprint: dict | None = None) -> None:
        self.dest = check_folder_destination(dest, inputs=inputs, overwrite=overwrite)
        self.source = source
        self.fingerprint = fingerprint
        self.still = still
        self.overwrite = overwrite
        self.evict_after = evict_after
        self._temp = temp_folder_for(self.dest)
        (self._temp / FACES_DIR).mkdir()
        self._tracks: dict[int, _Track] = {}
        self._holding: set[int] = set()  # tracks whose best crops are in memory
        self._seen = 0
        self._closed = False

    def observe(self, result: FrameResult, faces: Sequence[PastedFace]) -> None:
        frame = result.frame
        self._seen += 1
        for face in faces:
            track = self._tracks.get(face.aligned.track_id)
            if track is None:
                track = self._tracks[face.aligned.track_id] = _Track(None, frame.index, frame.seconds)
            track.last_frame, track.last_seconds, track.last_seen = frame.index, frame.seconds, self._seen
            track.frames += 1
            if face.alpha > 0:
                track.enhanced_frames += 1
                self._consider(face.aligned.track_id, track, face, result)
        for track_id in [t for t in self._holding if self._seen - self._tracks[t].last_seen > self.evict_after]:
            self._write_crops(track_id, self._tracks[track_id])

    def _consider(self, track_id: int, track: _Track, face: PastedFace, result: FrameResult) -> None:
        """Make this face the track's best moment if it scores higher than the one held."""
        box = [float(v) for v in face.aligned.box]
        side = max(box[2] - box[0], box[3] - box[1])
        yaw = estimate_yaw(face.tracked.landmarks)
        confidence = float(face.tracked.detection.score)
        if track.record is not None and moment_score(confidence, side, math.inf, yaw) <= track.record.moment_score:
            return  # cannot win even at full sharpness: skip measuring it (the costly term)
        sharp = sharpness(face.aligned.crop)
        score = moment_score(confidence, side, sharp, yaw)
        if track.record is not None and score <= track.record.moment_score:
            return
        frame = result.frame
        track.record = TrackRecord(  # where the track starts and ends is filled in by ``close``
            track_id=track_id, first_frame=track.first_frame, last_frame=frame.index,
            first_seconds=track.first_seconds, last_seconds=frame.seconds, frames=0, enhanced_frames=0,
            best_frame=frame.index, best_seconds=frame.seconds, best_pts=frame.pts, time_base=str(frame.time_base),
            box=[round(v, 2) for v in box], confidence=round(confidence, 4),
            yaw=round(yaw, 2), sharpness=round(sharp, 2), moment_score=score, alpha=round(float(face.alpha), 4),
        )
        # What went into the frame: the restored face at the strength it was pasted with.
        alpha = float(face.alpha)
        restored = face.blended if alpha >= 1 else cv2.addWeighted(face.blended, alpha, face.aligned.crop, 1 - alpha, 0)
        track.crops = (face.aligned.crop.copy(), np.array(restored, copy=True))
        self._holding.add(track_id)

    def _write_crops(self, track_id: int, track: _Track) -> None:
        assert track.crops is not None and track.record is not None
        for kind, crop in zip(("original", "restored"), track.crops):
            name = f"{FACES_DIR}/track-{track_id:04d}-{kind}.png"
            _write_png(self._temp / name, crop)
            setattr(track.record, kind, name)
        track.crops = None
        self._holding.discard(track_id)

    def close(self) -> GallerySummary:
        """Write the remaining crops and the index files, and publish the folder.

        Raises:
            DestinationExists: ``dest`` got files meanwhile and ``overwrite`` is off.
        """
        try:
            records = []
            for track_id, track in sorted(self._tracks.items()):
                if track.record is None:
                    continue
                if track.crops is not None:
                    self._write_crops(track_id, track)
                record = track.record
                record.first_frame, record.first_seconds = track.first_frame, track.first_seconds
                record.last_frame, record.last_seconds = track.last_frame, track.last_seconds
                record.frames, record.enhanced_frames = track.frames, track.enhanced_frames
                record.moment_score = round(record.moment_score, 4)
                records.append(record)
            write_index(self._temp, records, source=self.source, still=self.still, fingerprint=self.fingerprint)
            commit_folder(self._temp, self.dest, overwrite=self.overwrite)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return GallerySummary(self.dest, records, skipped_tracks=len(self._tracks) - len(records))

    def abort(self) -> None:
        """Drop everything; ``dest`` is left as it was."""
        self._closed = True
        self._tracks.clear()
        discard_folder(self._temp)

    def __enter__(self) -> FaceGallery:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def _write_png(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise OSError(f"cannot write {path}")


# -- index files ---------------------------------------------------------------------------------


def write_index(folder: Path, records: Sequence[TrackRecord], *, source: str, still: bool = False,
                fingerprint: dict | None = None) -> None:
    """Write ``index.json``, ``index.csv`` and ``index.html`` for ``records`` into ``folder`` (``still``:
    of a picture, see ``contact_sheet``; ``fingerprint``: what decided the track ids, None: not known)."""
    data = {"tool": "gpen-video", "version": __version__, "source": source, "fingerprint": fingerprint,
            "tracks": [dataclasses.asdict(r) for r in records]}
    (folder / "index.json").write_text(json.dumps(data, indent=2))
    with open(folder / "index.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(r.csv_row() for r in records)
    (folder / "index.html").write_text(contact_sheet(records, source=source, still=still))


def read_index(folder: Path) -> list[TrackRecord]:
    """The entries of a gallery folder's ``index.json``."""
    data = json.loads((folder / "index.json").read_text())
    return [TrackRecord(**entry) for entry in data["tracks"]]


def format_seconds(seconds: float | None) -> str:
    """``1:02.345`` (minutes:seconds), or "?" without a timestamp."""
    if seconds is None:
        return "?"
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{rest:06.3f}"


_STYLE = """body{font-family:sans-serif;background:#222;color:#eee;margin:1em}
h1{font-size:1.3em}.sheet{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#333;padding:8px;border-radius:6px}.pair{display:flex;gap:4px}
figure{margin:0;text-align:center}img{width:192px;height:192px;display:block}
figcaption,p{font-size:.8em;margin:.2em 0}"""


def contact_sheet(records: Sequence[TrackRecord], *, source: str, still: bool = False) -> str:
    """A static HTML page: one card per track, original beside restored, with times. No scripts.

    ``still``: the records are the faces of one picture: each card is a face, with no times or frames.
    """
    cards = []
    for r in records:
        label = f"{'face' if still else 'track'} {r.track_id}"
        if r.segment is not None:
            label += f" (segment {r.segment}, track {r.segment_track_id})"
        lines = [f"score {r.moment_score:.2f} · yaw {r.yaw:.0f}°"]
        if not still:
            frames = f"{r.frames} frame{'' if r.frames == 1 else 's'}"
            lines = [f"{format_seconds(r.first_seconds)} – {format_seconds(r.last_seconds)} · {frames}",
                     f"best: {format_seconds(r.best_seconds)} (frame {r.best_frame}) · {lines[0]}"]
        cards.append(
            f'<div class="card"><p><b>{html.escape(label)}</b></p><div class="pair">'
            f'<figure><img src="{html.escape(r.original)}" alt="original, {html.escape(label)}">'
            f"<figcaption>original</figcaption></figure>"
            f'<figure><img src="{html.escape(r.restored)}" alt="restored, {html.escape(label)}">'
            f"<figcaption>restored</figcaption></figure></div>"
            f"{''.join(f'<p>{line}</p>' for line in lines)}</div>"
        )
    title = html.escape(f"gpen-video faces: {source}" if source else "gpen-video faces")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"
            f"<p>{len(records)} enhanced {'face' if still else 'track'}(s) · gpen-video {html.escape(__version__)}</p>"
            f'<div class="sheet">{"".join(cards)}</div></body></html>\n')


def merge_galleries(parts: Sequence[Path], dest: str | Path, *, source: str = "", overwrite: bool = False,
                    inputs: Iterable[str | Path | None] = ()) -> GallerySummary:
    """Join the galleries of consecutive segments of one video into one gallery folder ``dest``.

    Tracks start over in every segment, so one person crossing a cut appears once per segment. The
    entries keep their order (segment by segment, by track id) and are numbered again from 0; with
    more than one part each keeps its ``segment`` and ``segment_track_id``. The parts are left as
    they are; ``dest`` is written like a gallery (temporary folder, one rename) and must not hold
    any of ``inputs`` (the input, the output).

    Raises:
        GpenVideoError: a part cannot be read or ``dest`` cannot be written (disk full, ...);
            DestinationExists: see ``media.output.commit_folder``.
    """
    dest = check_folder_destination(dest, inputs=inputs, overwrite=overwrite)
    temp = temp_folder_for(dest)
    records: list[TrackRecord] = []
    try:
        (temp / FACES_DIR).mkdir()
        for number, part in enumerate(parts):
            for record in read_index(part):
                merged = dataclasses.replace(record, track_id=len(records))
                if len(parts) > 1:
                    merged.segment, merged.segment_track_id = number, record.track_id
                for kind in ("original", "restored"):
                    name = f"{FACES_DIR}/track-{merged.track_id:04d}-{kind}.png"
                    shutil.copyfile(part / getattr(record, kind), temp / name)
                    setattr(merged, kind, name)
                records.append(merged)
        write_index(temp, records, source=source)
        commit_folder(temp, dest, overwrite=overwrite)
    except BaseException as exc:
        discard_folder(temp)
        # A missing or damaged part, a full disk; the package's own errors (also OSError or ValueError) stay as they are.
        if isinstance(exc, (OSError, ValueError, KeyError, TypeError)) and not isinstance(exc, GpenVideoError):
            raise GpenVideoError(f"cannot write the face gallery {dest}: {exc}") from exc
        raise
    return GallerySummary(dest, records)


def write_overview(root: Path) -> None:
    """``root/index.html``: one line per gallery in ``root``'s subfolders (a batch's inputs), linking it."""
    rows = []
    for index in sorted(root.glob("*/index.json")):
        data = json.loads(index.read_text())
        link = html.escape(f"{index.parent.name}/index.html")
        rows.append(f'<li><a href="{link}">{html.escape(data.get("source") or index.parent.name)}</a>'
                    f" · {len(data.get('tracks', []))} track(s)</li>")
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>gpen-video faces</title>'
            f"<style>{_STYLE}</style></head><body><h1>gpen-video faces</h1><ul>{''.join(rows)}</ul></body></html>\n")
    dest = root / "index.html"
    temp = temp_path_for(dest)
    try:
        temp.write_text(page)
        commit(temp, dest, overwrite=True)
    except BaseException:
        discard(temp)
        raise
