"""Finishing an input: its finished parts become its output (and its face gallery), atomically, and the parts are removed.

Galleries: each unit writes one for the frames it wrote (``UnitRecord.gallery_part``); tracks start over
in every segment. They are merged into ``<faces-out>/<input key>/`` (``gallery.merge_galleries``:
entries renumbered, each keeping its segment and its id there), and ``<faces-out>/index.html`` links
every input's gallery.
"""
from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

from ..errors import GpenVideoError
from ..review.gallery import merge_galleries, write_overview
from ..media.concat import SegmentFile, concat_segments
from ..media.output import check_destination, commit
from .manifest import DONE, FAILED, InputRecord


def gallery_folder(faces_out: str | Path | None, key: str) -> Path | None:
    """Where the gallery of the input with ``key`` goes (None: the batch writes no galleries)."""
    return None if faces_out is None else Path(faces_out).expanduser().absolute() / key


def finish_input(record: InputRecord, work_dir: Path, *, overwrite: bool, tags: dict[str, str] | None = None,
                 faces_out: str | Path | None = None) -> None:
    """Move ``record``'s parts onto its output: a whole unit is renamed, segments are joined with the audio
    (and ``tags`` set on the joined file); with ``faces_out``, the units' galleries are merged into its
    gallery folder.

    Without ``overwrite`` an output that appeared since the batch was planned is left untouched (one
    that appears during the join too: the result is then kept beside it, see ``media.output.commit``).
    Sets ``record.state`` to ``done``, or to ``failed`` with the join's error (the parts are then kept).
    """
    output = Path(record.output)
    gallery = gallery_folder(faces_out, record.key)
    try:
        check_destination(output, source=record.source, overwrite=overwrite)  # before the gallery: none for a refused input
        if gallery is not None:
            gallery.parent.mkdir(parents=True, exist_ok=True)
            # This input's own folder (its key hashes its path): an earlier run's gallery of it is replaced.
            merge_galleries([work_dir / u.gallery_part for u in record.units], gallery, source=record.source,
                            overwrite=True, inputs=[record.source, output])
        if record.units[0].kind == "whole":
            commit(work_dir / record.units[0].part, output, overwrite=overwrite)
        else:
            parts = [SegmentFile(work_dir / u.part, u.first_pts) for u in record.units]
            concat_segments(parts, output, source=record.source, time_base=Fraction(record.time_base),
                            fps=Fraction(record.fps) if record.fps else None, overwrite=overwrite, tags=tags)
        if gallery is not None:
            write_overview(gallery.parent)
    except GpenVideoError as exc:
        record.state, record.error = FAILED, f"joining: {exc}"
        return
    record.state = DONE
    shutil.rmtree(work_dir / record.key, ignore_errors=True)
