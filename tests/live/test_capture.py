"""live.capture: the one-frame slot between the capture thread and the run loop."""
from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from gpen_video.live.capture import LatestFrame
from gpen_video.types import Frame


def test_latest_frame_keeps_the_newest_and_counts_the_stale() -> None:
    slot = LatestFrame()
    frames = [Frame(i, i, Fraction(1, 25), np.zeros((2, 2, 3), np.uint8), float(i)) for i in range(4)]
    for frame in frames[:3]:
        slot.put(frame)
    assert slot.take().index == 2 and slot.dropped == 2
    assert slot.take(timeout=0.05) is None  # nothing newer yet: it waits, it does not repeat a frame
    slot.put(frames[3])
    slot.close()
    assert slot.take() is None  # closing drops what was not taken
    assert (slot.captured, slot.taken, slot.dropped) == (4, 1, 3)
    slot.put(frames[0])
    assert slot.captured == 4


@pytest.mark.serial  # asserts wall-clock behaviour
def test_take_blocks_until_a_frame_arrives_from_another_thread() -> None:
    slot = LatestFrame()
    frame = Frame(7, 0, Fraction(1, 25), np.zeros((2, 2, 3), np.uint8), 0.0)
    threading.Timer(0.1, slot.put, args=(frame,)).start()
    began = time.monotonic()
    assert slot.take(timeout=5).index == 7
    assert 0.05 < time.monotonic() - began < 2
