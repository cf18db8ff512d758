"""The ``[faces]`` settings: detection, tracking, smoothing, blending and paste-back, with the names each
setting accepts and the checks that types alone cannot express. Light: no OpenCV, numpy or torch."""
from __future__ import annotations

from dataclasses import dataclass

# The embedded RetinaFace mobile0.25 where it runs best, or forced onto onnxruntime or torch; or facexlib's
# RetinaFace with the network named here (``faces.detect.build_detector``).
FACEXLIB_DETECTORS = {"facexlib-resnet50": "resnet50", "facexlib-mobile0.25": "mobile0.25"}
DETECTOR_NAMES = ("retinaface", "retinaface-onnx", "retinaface-torch", *FACEXLIB_DETECTORS)
COLOR_MODES = ("auto", "input", "restored")  # restored faces' colour (``faces.monochrome``)
MASKS = ("soft", "parsing")  # paste-back masks: the feathered square, or facexlib ParseNet's face parts
MAX_FADE_FRAMES = 250  # a lost face is carried this long at most: 10 s at 25 fps


@dataclass
class FaceSettings:
    """Detection, tracking, smoothing, blending and paste-back."""

    # Embedded RetinaFace mobile0.25: onnxruntime, or torch on CUDA when onnxruntime has no CUDA provider;
    # "retinaface-onnx" / "retinaface-torch" force one. Or "facexlib-resnet50" / "facexlib-mobile0.25".
    detector: str = "retinaface"
    det_size: int = 640  # detect on a copy whose longest side is this many pixels (0 = full resolution)
    start_threshold: float = 0.9  # detector score a new face needs to start a track (GPEN's own cut-off)
    keep_threshold: float = 0.5  # lowest score that keeps a started track alive (poor light, turns)
    confirm_frames: int = 3  # detector hits before a track is restored; the original pixels stay until then
    confirm_score: float = 0.98  # one hit scoring this confirms a track at once (> 1: never)
    verify_score: float = 0.7  # a hit counts toward confirmation only if the detector finds the face again at
    # this score on its aligned crop, alone on a blank canvas (0 = off): not the back of a head or a hand
    fade_frames: int = 3  # a restored face fades in and out over this many frames (0 = pops)
    yaw_full: float = 45.0  # faces turned up to this many degrees are restored at full strength
    yaw_zero: float = 75.0  # ... and from this many degrees on not at all (GPEN invents profiles)
    color: str = "auto"  # restored faces' colour: auto (the input's in monochrome scenes), input, restored
    detect_every: int = 1  # run the detector every N frames; the tracker carries faces in between
    min_face: int = 0  # ignore faces smaller than this (pixels, box side)
    max_faces: int = 0  # keep at most this many faces per frame, largest first (0 = all)
    smooth: float = 1.0  # landmark smoothing strength (0 = off, 1 = tuned default, >1 steadier)
    temporal: float = 0.85  # temporal blending strength in [0, 1] (0 = off)
    alpha: float = 1.0  # 1 = fully restored face, 0 = original face
    mask: str = "soft"  # paste-back mask: "soft" (feathered square) or "parsing" (facexlib ParseNet face parts)
    detail_transfer: bool = True  # faces larger than the crop's scale keep the source's finer detail


def face_checks(settings: FaceSettings) -> list[tuple[bool, str]]:
    """(passes, what it requires) for each range and name check of ``settings``."""
    return [
        (settings.detector in DETECTOR_NAMES,
         f"detector must be one of {', '.join(DETECTOR_NAMES)}, got '{settings.detector}'"),
        (settings.det_size == 0 or settings.det_size >= 32, "det size must be 0 (full resolution) or at least 32 pixels"),
        (0.0 < settings.keep_threshold <= settings.start_threshold < 1.0,
         "thresholds must satisfy 0 < keep threshold <= start threshold < 1"),
        (settings.confirm_frames >= 1, "confirm frames must be at least 1"),
        (settings.confirm_score > 0.0, "confirm score must be positive"),
        (0.0 <= settings.verify_score <= 1.0, "verify score must be in [0, 1] (0 = off)"),
        (0 <= settings.fade_frames <= MAX_FADE_FRAMES, f"fade frames must be in [0, {MAX_FADE_FRAMES}]"),
        (0.0 <= settings.yaw_full <= settings.yaw_zero <= 90.0, "yaw must satisfy 0 <= yaw full <= yaw zero <= 90 degrees"),
        (settings.color in COLOR_MODES, f"color must be one of {', '.join(COLOR_MODES)}, got '{settings.color}'"),
        (settings.mask in MASKS, f"mask must be one of {', '.join(MASKS)}, got '{settings.mask}'"),
        (settings.detect_every >= 1, "detect every must be at least 1"),
        (settings.min_face >= 0 and settings.max_faces >= 0, "min face and max faces must not be negative"),
        (settings.smooth >= 0.0, "smooth must not be negative"),
        (0.0 <= settings.temporal <= 1.0, "temporal must be in [0, 1]"),
        (0.0 <= settings.alpha <= 1.0, "alpha must be in [0, 1]"),
    ]
