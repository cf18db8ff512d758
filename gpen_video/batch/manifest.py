"""The batch's state on disk: ``<out-dir>/gpen-batch.json`` (the manifest) and the part-file folder.

The manifest lists every input with its plan (units) and state; it is rewritten atomically after
every change, so an interrupted batch resumes from it. Format (version 1)::

    {"version": 1, "fingerprint": "<16 hex>", "runs": <int>, "inputs": [<InputRecord as a dict>, ...]}
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..media.output import write_json_atomic

MANIFEST_NAME = "gpen-batch.json"
WORK_DIR_NAME = ".gpen-batch"  # part files, below the out-dir

State = Literal["pending", "running", "done", "failed"]
PENDING: State = "pending"
RUNNING: State = "running"
DONE: State = "done"
FAILED: State = "failed"
UnitKind = Literal["whole", "segment"]


@dataclass(frozen=True)
class BatchPaths:
    """Where a batch keeps its files, all absolute: outputs under ``out_dir``, the manifest, the part files."""

    out_dir: Path
    work_dir: Path
    manifest: Path

    @classmethod
    def under(cls, out_dir: str | Path) -> BatchPaths:
        root = Path(out_dir).expanduser().absolute()
        return cls(root, root / WORK_DIR_NAME, root / MANIFEST_NAME)


@dataclass
class UnitRecord:
    """One unit of work: a whole video, or one keyframe segment of it.

    Frame indices count the source's frames in presentation order; a segment decodes from ``warm``,
    writes frames ``[start, end)``.

    Attributes:
        id: ``<input key>.whole`` or ``<input key>.sNNN``.
        part: the part file, relative to the work folder.
        window: the reader's (start, end) in seconds; None is the file's start or end.
        first_pts: source pts of the first written frame (segments; None for whole units).
        attempts: attempts so far, all runs together.
        frames: frames written by the successful attempt.
        seconds: wall time of the successful attempt.
        run: the run (1, 2, ...) that finished it.
    """

    id: str
    kind: UnitKind
    part: str
    warm: int = 0
    start: int = 0
    end: int = 0
    window: tuple[float | None, float | None] = (None, None)
    first_pts: int | None = None
    state: State = PENDING
    attempts: int = 0
    frames: int = 0
    seconds: float | None = None
    run: int | None = None
    error: str | None = None

    @property
    def gallery_part(self) -> str:
        """The unit's face gallery folder, relative to the work folder (written when the batch asks for galleries)."""
        return f"{self.part}.faces"


@dataclass
class InputRecord:
    """One input file: where it goes, its plan and its state.

    Attributes:
        source, output: absolute paths.
        key: the input's id (``plan.input_key``); its units' ids and part folder start with it.
        size, mtime_ns: the source's stat when planned; a change starts the input over.
        frames: frames the units will write.
        time_base, fps: the source video's, as fraction strings ("1/12800"); None until planned / unknown.
        seconds: summed wall time of its finished units, all runs.
        skipped: it was done before this run.
    """

    source: str
    output: str
    key: str
    size: int
    mtime_ns: int
    state: State = PENDING
    error: str | None = None
    frames: int = 0
    time_base: str | None = None
    fps: str | None = None
    units: list[UnitRecord] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputRecord:
        units = [UnitRecord(**{**u, "window": tuple(u["window"])}) for u in data.get("units", [])]
        return cls(**{**data, "units": units})


@dataclass
class Manifest:
    """The job's state file. ``fingerprint`` ties it to the settings that produced the parts.

    Attributes:
        runs: how many times the batch was started, this run included.
        inputs: records by source path.
    """

    fingerprint: str
    runs: int = 0
    inputs: dict[str, InputRecord] = field(default_factory=dict)
    version: int = 1

    def save(self, path: Path) -> None:
        data = {"version": self.version, "fingerprint": self.fingerprint, "runs": self.runs,
                "inputs": [dataclasses.asdict(r) for r in self.inputs.values()]}
        write_json_atomic(path, data)

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        """The manifest at ``path``, or None when there is none or it is unreadable (then the job starts over)."""
        try:
            data = json.loads(path.read_text())
            inputs = {r["source"]: InputRecord.from_dict(r) for r in data["inputs"]}
            return cls(data["fingerprint"], data["runs"], inputs, data.get("version", 1))
        except (OSError, ValueError, KeyError, TypeError):
            return None
