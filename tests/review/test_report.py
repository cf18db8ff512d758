"""What people see of a run: the progress bar, and the stability measure in the JSON metrics and the summary table."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from gpen_video.config import Settings
from gpen_video.job import JobResult
from gpen_video.review.metrics import QualityObserver
from gpen_video.types import PipelineStats, Progress
from gpen_video.review.console import BatchProgressView, ProgressView, print_summary
from gpen_video.review.report import build_report
from gpen_video.review.stability import WarpErrorMeter
from tests.helpers.moving_face import observe


@pytest.mark.parametrize("width", [80, 100, 60])
@pytest.mark.parametrize("done, total", [(523, 1234), (152_300, 216_000)])
def test_progress_bar_fits_on_one_line(width: int, done: int, total: int) -> None:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    view = ProgressView(console)
    view.update(Progress(done=0, total=total))
    view.update(Progress(done=done, total=total, faces=2 * done, seconds=done / 8.5,
                         stage_seconds={"decode": 3.0, "detect+track": 12.0, "restore": 40.0, "paste": 5.0,
                                        "encode": 4.0, "upscale": 2.0}))
    console.print(view)
    lines = console.export_text().splitlines()
    assert len(lines) == 1, lines
    assert len(lines[0]) <= width
    # What matters most survives the narrowest line: how far, and how fast.
    assert f"{done}/{total}" in lines[0] and "8.5 fps" in lines[0]


def _shown(view) -> str:
    console = Console(width=120, file=io.StringIO(), record=True, color_system=None)
    console.print(view)
    return console.export_text()


def test_bars_count_frames_without_a_total_where_none_is_known() -> None:
    console = Console(file=io.StringIO())
    batch = BatchProgressView(console)
    batch(Progress(done=0, total=None, item="/in/broken.mp4", detail="failed"))
    batch(Progress(done=5, total=None, item="/in/untimed.h264", detail="running"))
    shown = _shown(batch)
    assert "None" not in shown and "broken.mp4" in shown and " 0 frames" in shown and " 5 frames" in shown
    batch(Progress(done=7, total=50, item="/in/good.mp4", detail="running"))
    assert "7/50 frames" in _shown(batch)
    single = ProgressView(console)
    single.update(Progress(done=0, total=None))
    single.update(Progress(done=12, total=None, faces=3, seconds=1.0))
    assert "None" not in _shown(single) and "12 frames" in _shown(single)


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
