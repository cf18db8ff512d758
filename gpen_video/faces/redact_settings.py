"""The ``[redact]`` settings: whose faces are hidden, how, and how far around each detection.

Kept apart from ``faces.redact`` (which loads OpenCV) so that reading and checking settings stays light.
"""
from __future__ import annotations

from dataclasses import dataclass

REDACT_MODES = ("off", "others", "all")
REDACT_STYLES = ("blur", "pixelate", "fill")
MAX_REDACT_FRAMES = 250  # 10 s at 25 fps: longer would hold a stream back or hide empty background


@dataclass
class RedactSettings:
    """Hiding faces. Recall comes first: every detection at ``score`` is hidden from the frame it is found in.

    The run's own detections are hidden in every frame they are made in; every ``look_every`` frames (and
    at every scene cut) the detector looks again, at ``det_size``, at the frame as hidden, for the faces
    too small for ``[faces] det_size`` and those that hiding their neighbours made findable.
    ``before_frames`` and ``after_frames`` were measured on the repository's real clips (docs/faces.md):
    a face is hidden this many frames before its first detection (the output is delayed by as many
    frames; live mode covers only after) and after its last, and a gap of up to their sum inside a
    track is bridged.
    """

    mode: str = "off"  # off | others (every face but the selected tracks) | all
    style: str = "blur"  # blur | pixelate | fill
    det_size: int = 1280  # the look's longest side (0 = full resolution): small faces need more than [faces]
    look_every: int = 8  # frames between two looks at a hidden frame (and one at every scene cut)
    score: float = 0.5  # lowest detector score that is hidden (the default keep threshold)
    margin: float = 0.15  # extra border around the head, as a fraction of the face box's side
    before_frames: int = 8  # frames hidden before a face's first detection (look-ahead: the output waits this long)
    after_frames: int = 12  # frames hidden after a face's last detection

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


def validation_checks(settings: RedactSettings) -> list[tuple[bool, str]]:
    """(ok, message) pairs for ``config.validate``."""
    return [
        (settings.mode in REDACT_MODES, f"redact must be one of {', '.join(REDACT_MODES)}, got '{settings.mode}'"),
        (settings.style in REDACT_STYLES,
         f"redact style must be one of {', '.join(REDACT_STYLES)}, got '{settings.style}'"),
        (settings.det_size == 0 or settings.det_size >= 32,
         "redact det size must be 0 (full resolution) or at least 32 pixels"),
        (settings.look_every >= 1, "redact look every must be at least 1"),
        (0.0 < settings.score < 1.0, "redact score must be in (0, 1)"),
        (0.0 <= settings.margin <= 2.0, "redact margin must be in [0, 2]"),
        (0 <= settings.before_frames <= MAX_REDACT_FRAMES and 0 <= settings.after_frames <= MAX_REDACT_FRAMES,
         f"redact before and after frames must be in [0, {MAX_REDACT_FRAMES}]"),
    ]
