"""Which faces get restored, before and after the track gate (issue 13), on the real media in tests/data.

Before: one detector threshold (0.5), every track restored from its first frame. After: the defaults
(tracks start at 0.9 and live down to 0.5, restored after 3 verified hits or one verified hit at 0.98
(the face found again alone on its aligned crop at 0.7), 3-frame fades, pose gate). Prints, per clip, tracks and their lengths in frames, how many are restored, and how many
tracks shorter than the confirmation window are restored. Run: python3 bench/bench_gate.py
"""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpen_video.config import FaceSettings  # noqa: E402
from gpen_video.faces.analyzer import FaceAnalyzer, build_tracker  # noqa: E402
from gpen_video.faces.detect import RetinaFaceOnnx  # noqa: E402
from gpen_video.faces.gate import build_gate  # noqa: E402
from gpen_video.faces.track import SceneCutDetector  # noqa: E402
from gpen_video.faces.verify import CropVerifier  # noqa: E402
from tests.helpers.real_media import video_frames  # noqa: E402


def run(clip: list[np.ndarray], settings: FaceSettings, gated: bool) -> dict[int, list[float]]:
    """Per track, the paste strength of each frame it was output in (1 everywhere when not gated)."""
    detector = RetinaFaceOnnx(det_size=settings.det_size, score_threshold=settings.keep_threshold)
    tracker = build_tracker(start_threshold=settings.start_threshold if gated else 0.0,
                            coast_frames=settings.fade_frames if gated else 1)
    analyzer = FaceAnalyzer(detector, tracker=tracker, cuts=SceneCutDetector(),
                            verifier=CropVerifier(detector, min_score=settings.verify_score) if gated else None,
                            verify_hits=settings.confirm_frames)
    gate = build_gate(settings)
    tracks: dict[int, list[float]] = defaultdict(list)
    for start in range(0, len(clip), 8):
        for found in analyzer.process(clip[start : start + 8]):
            strengths = gate.strengths(found.faces) if gated else [1.0] * len(found.faces)
            for face, strength in zip(found.faces, strengths):
                tracks[face.track_id].append(strength)
    return tracks


def describe(tracks: dict[int, list[float]], window: int) -> str:
    lengths = sorted(len(v) for v in tracks.values())
    restored = [v for v in tracks.values() if max(v) > 0]
    short = sum(1 for v in restored if len(v) < window)
    frames_restored = sum(sum(a > 0 for a in v) for v in tracks.values())
    return (f"{len(tracks):3d} tracks, lengths {lengths}; restored: {len(restored)} tracks, "
            f"{frames_restored} face-frames, {short} shorter than {window} frames")


def main() -> None:
    settings = FaceSettings()
    crowd = list(video_frames("crowd_1080p.mp4", 60))
    clips = {
        "crowd 1080p (60 frames)": crowd,
        "crowd 360p, 40 % light": [(cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) * 0.4).astype(np.uint8)
                                   for f in crowd],
        "talking head (125 frames)": list(video_frames("talking_head_844.mp4", 125)),
    }
    for name, clip in clips.items():
        print(f"== {name}")
        print("  before (threshold 0.5, no gate):", describe(run(clip, settings, False), settings.confirm_frames))
        print("  after  (defaults):              ", describe(run(clip, settings, True), settings.confirm_frames))


if __name__ == "__main__":
    main()
