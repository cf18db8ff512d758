"""Resuming: plan this run against the manifest of earlier runs, keeping what they finished.

An input whose source (size, mtime) and output are unchanged keeps its record: done and its output
there, it is skipped; otherwise its finished units whose part files exist are kept and the rest run
again. Changed settings (another fingerprint) start every input over.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..config import Settings
from ..errors import GpenVideoError, InputError
from ..media.output import TEMP_MARK, check_destination
from .join import gallery_folder
from .manifest import DONE, FAILED, PENDING, BatchPaths, InputRecord, Manifest
from .options import BatchOptions
from .plan import input_key, plan_input


def load_manifest(path: Path, fingerprint: str) -> Manifest:
    """The manifest at ``path`` when it was made with the same settings; else a fresh one (run count kept)."""
    previous = Manifest.load(path)
    if previous is None or previous.fingerprint != fingerprint:
        return Manifest(fingerprint, previous.runs if previous else 0)
    return previous


def plan_run(manifest: Manifest, sources: list[tuple[Path, Path]], paths: BatchPaths, settings: Settings,
             options: BatchOptions) -> list[InputRecord]:
    """Records for ``sources`` (``(source, output name)`` pairs), stored into ``manifest``, in the same order.

    An input that cannot be read or planned gets a ``failed`` record; the others are unaffected.

    Raises:
        InputError: two sources would write the same output.
    """
    records = []
    outputs: dict[Path, Path] = {}
    for source, name in sources:
        output = paths.out_dir / name
        if output in outputs:
            raise InputError(f"{source} and {outputs[output]} would both write {output}")
        outputs[output] = source
        record = _plan_input(manifest.inputs.get(str(source)), source, output, paths.work_dir, settings, options)
        manifest.inputs[record.source] = record
        records.append(record)
    return records


def _plan_input(old: InputRecord | None, source: Path, output: Path, work_dir: Path, settings: Settings,
                options: BatchOptions) -> InputRecord:
    try:
        stat = source.stat()
    except OSError as exc:
        return _failed(source, output, f"cannot read: {exc}")
    same_source = old is not None and (old.size, old.mtime_ns, old.output) == (stat.st_size, stat.st_mtime_ns, str(output))
    gallery = gallery_folder(options.faces_out, old.key) if old is not None else None
    if same_source and old.state == DONE and output.exists() and (gallery is None or gallery.is_dir()):
        old.skipped = True
        return old
    if same_source and old.units:
        old.state, old.error, old.skipped = PENDING, None, False
        for unit in old.units:
            parts = [unit.part] + ([unit.gallery_part] if options.faces_out is not None else [])
            if unit.state != DONE or not all((work_dir / part).exists() for part in parts):
                unit.state, unit.error = PENDING, None
        return old
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        check_destination(output, source=source, inputs=settings.files_read(), overwrite=options.overwrite)
        record = plan_input(source, output, settings, options)
    except GpenVideoError as exc:
        return _failed(source, output, str(exc))
    shutil.rmtree(work_dir / record.key, ignore_errors=True)  # parts from other settings
    return record


def _failed(source: Path, output: Path, error: str) -> InputRecord:
    return InputRecord(str(source), str(output), input_key(source), 0, 0, state=FAILED, error=error)


def remove_half_written(work_dir: Path) -> None:
    """Delete the half-written files and gallery folders of attempts that were killed (their writers could not clean up)."""
    for path in list(work_dir.rglob(f"*{TEMP_MARK}*")):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
