"""bench/gpu_check.py's own machinery: the report survives every section, steady-state fps leaves the
warm-up out, the looped clip has the frames asked for."""
from __future__ import annotations

import importlib.util
import json

import av
import pytest

from gpen_video.types import Progress
from tests.helpers.paths import DATA, ROOT


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_report_is_on_disk_after_every_section_whatever_the_section_did(gpu_check, tmp_path):
    path = tmp_path / "check.json"
    report = gpu_check.Report(path, limit=60, quick=True)
    report.section("fine", lambda: {"fps": 1.0}, needs=0)
    assert json.loads(path.read_text())["fine"] == {"fps": 1.0}
    report.section("broken", lambda: 1 / 0, needs=0)
    assert "ZeroDivisionError" in json.loads(path.read_text())["broken"]["error"]
    report.section("too_long", lambda: pytest.fail("must not run"), needs=3600)
    saved = json.loads(path.read_text())
    assert "skipped" in saved["too_long"] and "running" not in saved and set(saved["sections_s"]) == {"fine", "broken"}


def test_steady_fps_counts_from_the_warm_frames_on(gpu_check, monkeypatch):
    clock = gpu_check.FrameClock(warm=10)
    now = iter([0.0, 5.0, 6.0, 7.0])  # 5 s of start-up before the 10th frame, then 10 frames a second
    monkeypatch.setattr(gpu_check.time, "perf_counter", lambda: next(now))
    for done in (0, 10, 20, 30):
        clock(Progress(done=done, item="a"))
    assert clock.steady() == {"steady_fps": 10.0, "steady_frames": 20, "warm_frames_left_out": 10}
    assert gpu_check.FrameClock(warm=10).steady()["steady_fps"] is None


def test_the_looped_clip_has_the_frames_asked_for(gpu_check, tmp_path):
    clip = gpu_check.looped_clip(DATA / "lp_d9_3s.mp4", tmp_path / "loop.mp4", frames=100, width=128)
    with av.open(str(clip)) as container:
        frames = [f for f in container.decode(video=0)]
    assert len(frames) == 100 and (frames[0].width, frames[0].height) == (128, 120)
