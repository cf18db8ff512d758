"""Batch workers' core shares: every library in a worker keeps to its cores."""
from __future__ import annotations

import multiprocessing
import os
from fractions import Fraction
from concurrent.futures import ProcessPoolExecutor

import pytest

from gpen_video.batch.executors.threads import cap_threads, core_shares
from tests.helpers.paths import DATA


def test_core_shares_split_the_cores_into_runs():
    shares = core_shares(4, list(range(16)))
    assert shares == [frozenset(range(k * 4, k * 4 + 4)) for k in range(4)]
    assert core_shares(3, [2, 3, 5, 7, 11, 13, 17]) == [frozenset({2, 3}), frozenset({5, 7}), frozenset({11, 13})]
    assert core_shares(4, [0, 1]) == [frozenset({0}), frozenset({1}), frozenset({0}), frozenset({1})]
    assert core_shares(1, [0, 1, 2]) == [frozenset({0, 1, 2})]


def _threads_in_use() -> dict:
    """What each library would run here: the decoder's automatic threads, the threads alive while x264
    encodes with its automatic count, torch's and OpenCV's counts."""
    import av
    import cv2
    import numpy as np
    import torch

    with av.open(str(DATA / "crowd_1080p.mp4")) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        for index, _ in enumerate(container.decode(stream)):
            if index == 2:
                break
        decoder = stream.codec_context.thread_count
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt, encoder.time_base = 640, 360, "yuv420p", Fraction(1, 25)
    picture = av.VideoFrame.from_ndarray(np.zeros((360, 640, 3), np.uint8), format="rgb24")
    encoder.encode(picture.reformat(format="yuv420p"))
    alive = len(os.listdir("/proc/self/task"))
    return {"decoder": decoder, "threads_while_encoding": alive, "torch": torch.get_num_threads(),
            "opencv": cv2.getNumThreads(), "affinity": sorted(os.sched_getaffinity(0))}


def _before_and_after_the_cap(core: int) -> tuple[dict, dict]:
    before = _threads_in_use()
    cap_threads(frozenset({core}))
    return before, _threads_in_use()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux and 2 cores")
def test_a_capped_worker_runs_every_library_on_its_own_cores():
    core = min(os.sched_getaffinity(0))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        before, after = pool.submit(_before_and_after_the_cap, core).result(timeout=120)
    assert before["decoder"] > 1 and before["torch"] > 1 and before["opencv"] > 1
    assert after == {"decoder": 1, "threads_while_encoding": after["threads_while_encoding"], "torch": 1, "opencv": 1,
                     "affinity": [core]}
    assert after["threads_while_encoding"] < before["threads_while_encoding"]
