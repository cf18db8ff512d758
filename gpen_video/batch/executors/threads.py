"""Each batch worker's share of the CPU cores, and every library in it held to that share.

Left alone, each worker process sizes its thread pools for the whole machine: x264 and FFmpeg's
decoders (``threads=auto``), OpenCV, OpenMP (torch, BLAS). N workers then run N times too many
threads, which fight over the caches and the scheduler. Pinning a worker to its cores (CPU affinity)
is the one setting all of them follow: FFmpeg's and x264's automatic counts, OpenMP's and OpenCV's
defaults are the cores the process may run on. Explicit counts are set too, for what reads them.
"""
from __future__ import annotations

import os
import sys

_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def core_shares(workers: int, cores: list[int] | None = None) -> list[frozenset[int]]:
    """One set of cores per worker: consecutive runs of ``len(cores) // workers`` cores (at least one;
    workers beyond the cores share them round-robin). ``cores``: the ones this process may use."""
    allowed = sorted(cores if cores is not None else _allowed_cores())
    per = max(1, len(allowed) // workers)
    return [frozenset(allowed[(k * per + i) % len(allowed)] for i in range(per)) for k in range(workers)]


def cap_threads(cores: frozenset[int]) -> None:
    """Hold this process and every library in it to ``cores``: its threads' affinity (those running and
    those started later), the OpenMP/BLAS environment, torch's and OpenCV's thread counts."""
    count = str(len(cores))
    for name in _THREAD_ENV:
        os.environ[name] = count
    if sys.platform.startswith("linux"):  # elsewhere there is no affinity to set: the counts below still hold
        for thread in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(thread), cores)
            except ProcessLookupError:  # the thread ended meanwhile
                pass
    import cv2
    import torch

    torch.set_num_threads(len(cores))
    cv2.setNumThreads(len(cores))


def _allowed_cores() -> set[int]:
    if sys.platform.startswith("linux"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))
