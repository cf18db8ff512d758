"""The run report's stability measure: the warping-error ratio in the JSON metrics and in the summary table."""
from __future__ import annotations

from rich.console import Console

from gpen_video.config import Settings
from gpen_video.engine import PipelineStats
from gpen_video.job import JobResult
from gpen_video.metrics import QualityObserver
from gpen_video.report import build_report, print_summary
from gpen_video.stability import WarpErrorMeter
from tests.helpers.moving_face import observe


def result_with_two_shots() -> JobResult:
    """A job whose quality observer saw a steady shot and a flickering one (``tests.helpers.moving_face.observe``)."""
    quality = QualityObserver()
    meter: WarpErrorMeter = quality.warp_error
    for index in range(8):
        observe(meter, index, shift=2 * index, added=0 if index < 4 else 6.0 * (-1) ** index, scene_cut=index == 4)
    return JobResult("in.mp4", "out.mp4", "video", Settings(), PipelineStats(), 1.0, quality=quality)


def test_the_report_and_the_summary_show_the_warping_error_ratio() -> None:
    result = result_with_two_shots()
    metrics = build_report(result)["metrics"]
    shots = metrics["warp_error_shots"]
    assert [shot["first_frame"] for shot in shots] == [0, 4] and shots[0]["ratio"] < 1.1 < shots[1]["ratio"]
    assert metrics["warp_error_ratio"] == metrics["warp_error_output"] / metrics["warp_error_input"] > 1.1
    console = Console(record=True, width=120)
    print_summary(console, result)
    row = next(line for line in console.export_text().splitlines() if "face warping error, output / input" in line)
    assert f"{metrics['warp_error_ratio']:.2f}" in row and f"shots {shots[0]['ratio']:.2f}-" in row
