"""Planning a batch: which files are inputs, their ids, and the units each input is cut into."""
from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from ..config import Settings
from ..errors import InputError, InputMissing
from ..media.keyframes import FrameIndex, Segment, index_frames, plan_segments, reader_window
from .manifest import WORK_DIR_NAME, InputRecord, UnitRecord
from .options import BatchOptions

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts",
                              ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv", ".mxf"})


def collect_inputs(inputs: Sequence[str | Path], exclude: str | Path | None = None) -> list[tuple[Path, Path]]:
    """Expand files, folders (recursively, video extensions only) and globs.

    Args:
        exclude: a folder whose files are never inputs (the batch's out-dir: it may lie inside an
            input folder, and its outputs must not be read back as inputs on the next run).

    Returns:
        ``(source, relative output name)`` pairs, sources absolute and unique, in a stable order.
        Files in a folder keep their path below it, so same-named files in subfolders do not collide.

    Raises:
        InputError: an input matches nothing, or nothing at all is found (also when every video
            found lies in ``exclude``, which is then named).
    """
    skip = Path(exclude).expanduser().resolve() if exclude is not None else None
    found: dict[Path, Path] = {}
    skipped = 0
    for item in map(str, inputs):
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
                           and WORK_DIR_NAME not in p.parts)
            pairs = [(p, p.relative_to(path)) for p in files]
        elif path.is_file():
            pairs = [(path, Path(path.name))]
        else:
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True))
            if not matches:
                raise InputMissing(f"input not found: {item}")
            pairs = [(p, Path(p.name)) for p in matches if p.is_file()]
        for source, name in pairs:
            if skip is None or not source.resolve().is_relative_to(skip):  # resolved: links and ".." too
                found.setdefault(source.absolute(), name)
            else:
                skipped += 1
    if not found and skipped:
        raise InputError(f"every video in the inputs lies in the output folder {skip}, whose files are never "
                         "read as inputs: choose an output folder outside the input folders")
    if not found:
        raise InputError("no video files found in the inputs")
    return list(found.items())


def input_key(source: str | Path) -> str:
    """A stable, readable id for an input: its stem (40 characters at most) and 8 hex of a hash of its absolute path."""
    path = Path(source).absolute()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem)[:40]
    return f"{stem}-{digest}"


def settings_fingerprint(settings: Settings, options: BatchOptions) -> str:
    """16 hex of a hash of everything that changes a part file's pixels or its gallery (live and input settings do not)."""
    data = {"settings": settings.to_dict(), "segment_seconds": options.segment_seconds, "warmup": options.warmup,
            "galleries": options.faces_out is not None}  # parts made without galleries cannot give one
    data["settings"].pop("live", None)
    data["settings"].pop("input", None)
    text = json.dumps(data, sort_keys=True, default=str)  # the same settings always give the same text
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def plan_input(source: Path, output: Path, settings: Settings, options: BatchOptions) -> InputRecord:
    """Index ``source``'s keyframes and plan its units: one ``whole`` unit, or keyframe segments (never
    when faces are hidden).

    Part files are named ``<key>/whole<ext>`` or ``<key>/sNNN<ext>`` with the output's extension.

    Raises:
        MediaOpenError: the file is not a readable video.
    """
    stat = source.stat()
    key = input_key(source)
    record = InputRecord(str(source), str(output), key, stat.st_size, stat.st_mtime_ns)
    index = index_frames(source)
    # Hiding faces looks ahead (a face is hidden before it is first found): a segment's end would cut that short,
    # so such a video is one unit (segment seconds 0: never split).
    seconds = 0.0 if settings.redact.enabled else options.segment_seconds
    segments = plan_segments(index, seconds, warmup=options.warmup, detect_every=settings.faces.detect_every)
    record.time_base = str(index.time_base)
    record.fps = str(index.fps) if index.fps else None
    record.frames = len(index)
    suffix = output.suffix
    if len(segments) == 1:
        record.units = [UnitRecord(f"{key}.whole", "whole", f"{key}/whole{suffix}", 0, 0, len(index))]
        return record
    for k, segment in enumerate(segments):
        record.units.append(_segment_unit(index, segment, f"{key}.s{k:03d}", f"{key}/s{k:03d}{suffix}"))
    return record


def _segment_unit(index: FrameIndex, segment: Segment, unit_id: str, part: str) -> UnitRecord:
    return UnitRecord(unit_id, "segment", part, segment.warm, segment.start, segment.end,
                      reader_window(index, segment), index.pts[segment.start])
