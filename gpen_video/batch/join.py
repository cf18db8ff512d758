"""Finishing an input: its finished parts become its output, atomically, and the parts are removed."""
from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

from ..errors import GpenVideoError
from ..media.concat import SegmentFile, concat_segments
from ..media.output import check_destination, commit
from .manifest import DONE, FAILED, InputRecord


def finish_input(record: InputRecord, work_dir: Path, *, overwrite: bool) -> None:
    """Move ``record``'s parts onto its output: a whole unit is renamed, segments are joined with the audio.

    Without ``overwrite`` an output that appeared since the batch was planned is left untouched (one
    that appears during the join too: the result is then kept beside it, see ``media.output.commit``).
    Sets ``record.state`` to ``done``, or to ``failed`` with the join's error (the parts are then kept).
    """
    output = Path(record.output)
    try:
        if record.units[0].kind == "whole":
            check_destination(output, source=record.source, overwrite=overwrite)
            commit(work_dir / record.units[0].part, output, overwrite=overwrite)
        else:
            parts = [SegmentFile(work_dir / u.part, u.first_pts) for u in record.units]
            concat_segments(parts, output, source=record.source, time_base=Fraction(record.time_base),
                            fps=Fraction(record.fps) if record.fps else None, overwrite=overwrite)
    except GpenVideoError as exc:
        record.state, record.error = FAILED, f"joining: {exc}"
        return
    record.state = DONE
    shutil.rmtree(work_dir / record.key, ignore_errors=True)
