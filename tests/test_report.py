"""What people see of a run: the progress bar."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from gpen_video.progress import Progress
from gpen_video.report import ProgressView


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
