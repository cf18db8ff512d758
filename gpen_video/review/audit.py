"""A tamper-evident audit log of one run: what went in, what every frame's faces got, what came out.

The log is JSON Lines, one compact object per line with sorted keys, written as the frames are encoded
(memory stays flat however long the video):

- a header: the log's format, the software and library versions, the full effective settings, the
  input's and the weights' sha256, how the run was made (backend, device, threads) and what would
  stop a second run from giving the same bytes, and what the run changes (the faces, or with an
  upscale every pixel);
- one line per frame: ``frame`` (index), ``pts``, ``time`` (seconds on the input's timeline), ``in``
  (sha256 of the decoded input frame, uint8 RGB as the engine received it), ``out`` (sha256 of the
  frame as it went to the encoder: its planes' visible bytes, ``media.planes``) and ``faces``: per face
  its ``track``, ``box`` [x0, y0, x1, y1] and five ``landmarks`` [x, y] in input pixels, the paste
  ``alpha``, whether it was ``restored`` (alpha > 0) and, below full strength, why (``held``: "not
  selected", "unconfirmed", "fade", "pose");
- a footer: the frame count and the output file's size and sha256, sealed with the sha256 of its own
  other fields.

Every line carries ``prev``, the sha256 of the line before it (its bytes without the newline; 64 zeros
for the header), so changing any line breaks the line after it. The log holds no time of day: the same
input, settings and weights give the same bytes (when it was made is the file's date, or the signature's
time in a signed output). ``review.audit_check`` verifies a log.
"""
from __future__ import annotations

import hashlib
import json
import platform
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Settings
from ..media.encoders import is_lossless
from ..media.output import check_destination, close_quietly, commit, discard, temp_path_for
from ..types import FrameResult, PastedFace
from .provenance import input_record, software_versions, weights_record

AUDIT_FORMAT = "gpen-video audit 1"
GENESIS = "0" * 64  # the header's ``prev``
ENCODER_THREADS = 4  # the encoder's threads in an audited run: a fixed count gives the same file on any machine
_PIXELS = 1  # decimals kept of pixel coordinates: a tenth of a pixel
_STRENGTH = 4  # decimals kept of a paste alpha


def encode_line(record: dict, prev: str) -> bytes:
    """``record`` with ``prev`` as one compact JSON line (sorted keys, UTF-8), without the newline."""
    return json.dumps({**record, "prev": prev}, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def line_sha256(line: bytes) -> str:
    """The hash the next line's ``prev`` holds: sha256 of ``line``'s bytes without its newline."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def seal(footer: dict) -> str:
    """The footer's seal: sha256 of its fields but ``seal`` (the last line has no next line to hold its hash)."""
    fields = {key: value for key, value in footer.items() if key != "seal"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def planes_sha256(planes: Sequence[np.ndarray]) -> str:
    """sha256 of a picture's planes, one after the other, each row by row."""
    digest = hashlib.sha256()
    for plane in planes:
        digest.update(np.ascontiguousarray(plane).data)
    return digest.hexdigest()


@dataclass(frozen=True)
class AuditedRun:
    """What the header says about a run besides its settings.

    Attributes:
        source: the input as given (the header keeps its file name and hashes its bytes).
        output: the output file (the header keeps its name).
        kind: "video" or "image".
        settings: the full effective settings (an image's detector size included).
        backend: what ran the restorer ("torch bf16", "onnxruntime ..."), i.e. its precision too.
        device: where it ran ("cpu", "cuda:0").
        frame_path: "host" or "device": where faces were cut out and pasted.
        scale: output side / input side.
        options: the job's own arguments (trim, side by side, the tracks chosen).
        encoder_threads: the encoder's fixed thread count, None for pictures.
    """

    source: str
    output: str
    kind: str
    settings: Settings
    backend: str
    device: str
    frame_path: str
    scale: int
    options: dict
    encoder_threads: int | None = None


def audit_header(run: AuditedRun) -> dict:
    """The header line's fields for ``run``."""
    import cv2
    import torch

    source = input_record(run.source)
    weights = weights_record(run.settings.restore)
    changes = (f"every pixel: the frame is enlarged {run.scale}x" if run.scale > 1 else
               "the pixels under the restored faces' paste masks")
    if run.settings.redact.enabled:
        changes += f", and the heads of the faces hidden ({run.settings.redact.style})"
    bit_exact = run.device == "cpu"
    return {
        "audit": AUDIT_FORMAT,
        "software": software_versions(),
        "settings": run.settings.to_dict(),
        "options": run.options,
        "kind": run.kind,
        "input": {"name": Path(run.source).name, "bytes": source["bytes"], "sha256": source["sha256"]},
        "weights": {"model": weights["model"], "sha256": weights["sha256"]},
        "output": {"name": Path(run.output).name, "lossless": run.kind == "video" and is_lossless(run.settings.encode)},
        "changes": changes,
        "reproducible": {
            "bit_exact": bit_exact,
            "note": ("the same bytes on a CPU with the same versions, backend and threads as below" if bit_exact else
                     "not guaranteed: GPU kernels may sum in another order from one run to the next"),
            "backend": run.backend, "device": run.device, "frame_path": run.frame_path,
            "machine": platform.machine(),
            "threads": {"torch": torch.get_num_threads(), "opencv": cv2.getNumThreads(),
                        "encoder": run.encoder_threads},
        },
    }


def frame_record(result: FrameResult, faces: Sequence[PastedFace]) -> dict:
    """A frame line's fields but ``out`` (the encoder's planes come later)."""
    frame = result.frame
    seconds = frame.seconds
    return {"frame": frame.index, "pts": frame.pts, "time": None if seconds is None else round(seconds, 6),
            "in": planes_sha256([frame.image]), "faces": [_face_record(face) for face in faces]}


def _face_record(face: PastedFace) -> dict:
    record = {
        "track": face.tracked.track_id,
        "box": [round(float(v), _PIXELS) for v in face.aligned.box],
        "landmarks": [[round(float(x), _PIXELS), round(float(y), _PIXELS)] for x, y in face.tracked.landmarks],
        "alpha": round(float(face.alpha), _STRENGTH),
        "restored": face.alpha > 0,
    }
    if face.held:
        record["held"] = list(face.held)
    return record


class AuditLog:
    """Writes one run's audit log to a temporary file beside ``dest``, published with the output.

    A ``FrameObserver`` (the engine's paste stage tells it each frame's faces) and an ``EncodeListener``
    (the writer tells it each frame's planes, in the same order, from another thread): a frame's line is
    written once both are known. ``finish`` writes the footer (once the output is complete); leaving the
    ``with`` block then publishes the log, and removes it on an error or when it was never finished.

    Raises:
        InputError, DestinationExists: ``dest`` is not a place for a new file (``media.output``).
    """

    def __init__(self, dest: str | Path, header: dict, *, overwrite: bool = False) -> None:
        self.dest = check_destination(dest, overwrite=overwrite)
        self._overwrite = overwrite
        self._temp = temp_path_for(self.dest)
        self._file = open(self._temp, "wb")
        self._prev = GENESIS
        self._pending: deque[dict] = deque()  # observed frames waiting for their planes
        self._lock = threading.Lock()
        self.frames = 0
        self.finished = False
        self._write(header)

    @property
    def chain_head(self) -> str:
        """sha256 of the last line written: before ``finish``, the hash of everything the run did."""
        return self._prev

    def _write(self, record: dict) -> None:
        line = encode_line(record, self._prev)
        self._file.write(line + b"\n")
        self._prev = line_sha256(line)

    def observe(self, result: FrameResult, faces: Sequence[PastedFace]) -> None:
        record = frame_record(result, faces)
        with self._lock:
            self._pending.append(record)

    def encoded(self, planes: Sequence[np.ndarray]) -> None:
        with self._lock:
            record = self._pending.popleft()
            record["out"] = planes_sha256(planes)
            self._write(record)
            self.frames += 1

    def finish(self, output: Path) -> str:
        """Write the footer for the finished output file ``output``; returns the footer's hash."""
        from ..media.checksum import file_sha256

        footer = {"end": AUDIT_FORMAT, "frames": self.frames,
                  "output": {"bytes": output.stat().st_size, "sha256": file_sha256(output)}, "prev": self._prev}
        footer["seal"] = seal(footer)
        self._write({key: value for key, value in footer.items() if key != "prev"})
        self._file.close()
        self.finished = True
        return self._prev

    def publish(self) -> Path:
        """Give the finished log its name (``media.output.commit``); returns it."""
        commit(self._temp, self.dest, overwrite=self._overwrite)
        return self.dest

    def discard(self) -> None:
        """Remove the unfinished log."""
        close_quietly(self._file.close)
        discard(self._temp)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self.finished:
            self.publish()
        else:
            self.discard()
