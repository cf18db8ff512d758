"""Stand-ins for live mode: a scripted camera and scripted keys."""
from __future__ import annotations

import time
from fractions import Fraction

import numpy as np

from gpen_video.media.info import VideoInfo
from gpen_video.types import Frame


class ScriptedSource:
    """A camera stand-in: ``count`` frames of ``image`` (default: grey 90, ``side`` px square) at ``fps``,
    stamped with their capture time, then ``fail`` raised (None: the stream just ends)."""

    def __init__(self, count: int, fail: BaseException | None, *, side: int = 320, fps: int = 25,
                 image: np.ndarray | None = None) -> None:
        self.count, self.fail, self.fps = count, fail, fps
        self.image = image if image is not None else np.full((side, side, 3), 90, np.uint8)
        height, width = self.image.shape[:2]
        self.info = VideoInfo(width, height, Fraction(fps), Fraction(1, fps), 0.0, None, None, None, 0, True, "test", False)

    def __iter__(self):
        for i in range(self.count):
            time.sleep(1 / self.fps)
            yield Frame(i, i, Fraction(1, self.fps), self.image, time.monotonic())
        if self.fail is not None:
            raise self.fail

    def close(self) -> None:
        pass


class ScriptedKeys:
    """A key source that gives ``script[n]`` (a string of keys) at its n-th poll; the run loop polls
    once per frame handed out, so n is the number of frames handed out so far, minus one."""

    def __init__(self, script: dict[int, str]) -> None:
        self.script, self.polls, self.closed = script, 0, False

    def poll(self) -> list[str]:
        keys = list(self.script.get(self.polls, ""))
        self.polls += 1
        return keys

    def close(self) -> None:
        self.closed = True
