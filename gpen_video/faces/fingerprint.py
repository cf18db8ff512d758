"""What decides a run's track ids: the input's bytes, the face settings that tracking depends on, and the
frames taken. Two runs with the same fingerprint number their tracks the same way (tests/faces/test_select.py),
so a track id read from one run's gallery names the same person in the other.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..media.checksum import file_sha256
from ..media.source import local_file

if TYPE_CHECKING:
    from ..config import FaceSettings

# The [faces] keys that change which faces are found, how they are linked and when a track ends.
TRACKING_KEYS = ("detector", "det_size", "start_threshold", "keep_threshold", "detect_every", "min_face",
                 "max_faces", "fade_frames")


@dataclass(frozen=True)
class RunFingerprint:
    """Attributes:
        input_sha256: lower-case hex SHA-256 of the input file, or None for a stream or URL.
        tracking: the tracking settings (``TRACKING_KEYS``) and the frames taken ("start", "end", in seconds).
    """

    input_sha256: str | None
    tracking: dict

    @property
    def tracking_sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.tracking, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict:
        return {**asdict(self), "tracking_sha256": self.tracking_sha256}


def run_fingerprint(source: str | Path, faces: FaceSettings, start: float | None = None,
                    end: float | None = None) -> RunFingerprint:
    """What decides the track ids of a run on ``source`` from ``start`` to ``end`` (seconds) with ``faces``."""
    source_file = local_file(source)
    digest = None if source_file is None else file_sha256(source_file)
    return RunFingerprint(digest, {**{key: getattr(faces, key) for key in TRACKING_KEYS}, "start": start, "end": end})
