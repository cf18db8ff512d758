"""How many local batch workers a machine gets by default."""
from __future__ import annotations

import pytest

from gpen_video.batch.executors.local import default_workers


@pytest.mark.parametrize(("gpus", "cores", "workers"), [
    (0, 2, 1), (0, 64, 1),  # no GPU: one process already uses every core
    (1, 2, 1), (1, 8, 2),
    (1, 16, 4),  # an H200 box with 16 cores: 4 workers share the GPU, 4 cores each for x264 and the CPU stages
    (1, 96, 4),  # at most 4 per GPU: each holds its own models in GPU memory
    (8, 16, 8), (8, 128, 32),
])
def test_gpu_boxes_run_several_workers_per_gpu_so_every_core_encodes(gpus, cores, workers) -> None:
    assert default_workers(gpus, cores) == workers


def test_this_machine_without_a_gpu_gets_one_worker() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU machine")
    assert default_workers() == 1
