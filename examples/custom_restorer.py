"""Enhance a video with your own face restorer instead of GPEN.

    python examples/custom_restorer.py samples/talking_head.mp4 sharpened.mp4

Any object with the ``gpen_video.Restorer`` members works; ``EagerQueue`` supplies the queued half
(``submit``/``collect``/``flush``) for a restorer that computes at once. This one sharpens each aligned
face crop with an unsharp mask; the engine still detects, tracks, aligns and pastes the faces back.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from gpen_video import Engine, build_settings, enhance_video
from gpen_video.restore.eager import EagerQueue


class SharpenRestorer(EagerQueue):
    """Unsharp mask on uint8 [N, S, S, 3] RGB face crops: crop + amount * (crop - blurred crop)."""

    size = 256  # the side of the crops the engine aligns faces to
    batch_size = 8  # faces per call
    device = "cpu"  # where the detector runs beside it
    backend = "unsharp mask"  # what the report names as the restorer

    def __init__(self, amount: float = 1.0) -> None:
        super().__init__()
        self.amount = amount

    def restore(self, crops: np.ndarray) -> np.ndarray:
        out = np.empty_like(crops)
        for k, crop in enumerate(crops):
            blurred = cv2.GaussianBlur(crop, (0, 0), sigmaX=2.0)
            out[k] = cv2.addWeighted(crop, 1 + self.amount, blurred, -self.amount, 0)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("output")
    parser.add_argument("--amount", type=float, default=1.0, help="sharpening strength [default: %(default)s]")
    parser.add_argument("--end", type=float, default=None, help="stop at this many seconds into the video")
    args = parser.parse_args()

    settings = build_settings(None, {"encode": {"preset": "veryfast"}})
    engine = Engine(settings, restorer=SharpenRestorer(args.amount))
    result = enhance_video(args.source, args.output, settings, engine=engine, end=args.end)
    print(f"{result.stats.frames} frames, {result.stats.faces} faces sharpened -> {result.output}")


if __name__ == "__main__":
    main()
