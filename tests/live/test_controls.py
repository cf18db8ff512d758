"""Control while running: keys from the window or the terminal toggle enhancement and side by side,
step the temporal blending and print the status, each within two frames."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from gpen_video.cli import main
from gpen_video.config import FaceSettings, build_settings
from gpen_video.engine import Engine
from gpen_video.faces.compose import FaceCompositor
from gpen_video.live.loop import run_live
from gpen_video.live.controls import LiveControls
from gpen_video.live.terminal_keys import StdinKeys
from tests.helpers.fakes import FixedDetector, RecordingRestorer
from tests.helpers.live import ScriptedKeys, ScriptedSource
from tests.helpers.real_media import video_frames

pytestmark = pytest.mark.serial  # asserts wall-clock behaviour: run apart from the parallel pass


def test_keys_set_the_switches_and_are_logged() -> None:
    compositor = FaceCompositor(FaceSettings(temporal=0.5))
    controls = LiveControls(compositor)
    assert controls.press("e", 3) == (None, "enhancement off") and not controls.enhance
    assert controls.press("E", 4)[1] == "enhancement on"
    assert controls.press("s", 5)[1] == "side by side on" and controls.side_by_side
    for _ in range(7):
        controls.press("]", 6)
    assert compositor.strength == 1.0  # clamped
    for _ in range(12):
        controls.press("-", 7)
    assert compositor.strength == 0.0 and controls.press("+", 8)[1] == "temporal 0.1"
    assert controls.press("\x1b", 9) == ("quit", None) and controls.press("i", 9) == ("status", None)
    assert controls.press("h", 9)[0] == "help" and "temporal" in controls.press("?", 9)[1]
    assert controls.press("x", 9) == (None, None) and controls.press("", 9) == (None, None)
    assert [(e.frame, e.key) for e in controls.events][:3] == [(3, "e"), (4, "e"), (5, "s")]


def test_terminal_keys_arrive_one_character_each() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        keys = StdinKeys(stream)
        os.write(write_end, b"e]\ni")
        deadline = time.monotonic() + 5
        got: list[str] = []
        while len(got) < 3 and time.monotonic() < deadline:
            got += keys.poll()
            time.sleep(0.01)
        os.close(write_end)
        keys.close()
    assert got == ["e", "]", "i"]


class ViewWindow:
    """Stands in for ``LiveWindow``: keeps every picture it was given."""

    views: list[np.ndarray] = []

    def __init__(self) -> None:
        ViewWindow.views = []

    def show(self, view, lines) -> str | None:
        ViewWindow.views.append(view.copy())
        return None

    def close(self) -> None:
        pass


@pytest.mark.timeout(60)
def test_toggles_take_effect_within_two_frames_and_off_is_the_source(monkeypatch) -> None:
    strengths: list[float] = []  # the temporal strength each frame was pasted with, in frame order
    original_compose = FaceCompositor.compose

    def compose(self, *args):
        strengths.append(self.strength)
        return original_compose(self, *args)

    monkeypatch.setattr(FaceCompositor, "compose", compose)
    image = np.ascontiguousarray(video_frames("talking_head_844.mp4", 1)[0][200:520, 260:580])  # 320 x 320, the face
    settings = build_settings("webcam", {"live": {"window": True, "max_in_flight": 2}, "faces": {"temporal": 0.5}})
    engine = Engine(settings, restorer=RecordingRestorer(invert=True), detector=FixedDetector(160, 80, 60))
    # The run loop polls once per frame handed out: keys at poll n act after frame n + 1.
    keys = ScriptedKeys({3: "e", 4: "]]", 7: "e", 9: "s", 11: "s", 14: "q"})
    messages: list[str] = []
    result = run_live("fake://camera", settings, engine=engine, opener=lambda _: ScriptedSource(1000, None, image=image),
                      keys=keys, message=messages.append, window=ViewWindow())
    views = ViewWindow.views
    assert result.stopped == "quit" and len(views) == 15

    source = [np.array_equal(v, image) for v in views]
    # "e" after frame 4: frames 5-8 are the source exactly; "e" after frame 8: enhanced again from frame 9.
    assert source == [False] * 4 + [True] * 4 + [False] * 7
    widths = [v.shape[1] for v in views]
    assert widths == [320] * 10 + [640] * 2 + [320] * 3  # "s" after frames 10 and 12
    assert np.array_equal(views[10][:, :320], image) and not np.array_equal(views[10][:, 320:], image)
    # "]]" after frame 5: 0.5 -> 0.7 reaches the paste stage for frame 7 at the latest.
    assert strengths[:5] == [0.5] * 5 and set(strengths[6:]) == {0.7}
    assert [(e.frame, e.state) for e in result.controls] == [
        (4, "enhancement off"), (5, "temporal 0.6"), (5, "temporal 0.7"), (8, "enhancement on"),
        (10, "side by side on"), (12, "side by side off")]
    assert messages[0] == "enhancement off" and len(messages) == 6


@pytest.mark.timeout(60)
def test_cli_reads_keys_from_stdin_and_reports_latency(tmp_path: Path, capsys, monkeypatch) -> None:
    clip = tmp_path / "cam.mp4"
    frames = video_frames("talking_head_844.mp4", 30)
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (160, 160))
    for frame in frames:
        writer.write(cv2.resize(frame, (160, 160), interpolation=cv2.INTER_AREA)[..., ::-1])
    writer.release()
    read_end, write_end = os.pipe()
    os.write(write_end, b"s")  # side by side at once ...
    stdin = os.fdopen(read_end, "r")
    monkeypatch.setattr("sys.stdin", stdin)
    report = tmp_path / "run.json"
    threading_timer = __import__("threading").Timer(0.6, lambda: (os.write(write_end, b"ieq"), os.close(write_end)))
    threading_timer.start()  # ... then, a moment later, the status, enhancement off and quit
    try:
        code = main(["live", "--source", str(clip), "--no-window", "--restorer", "none", "--report", str(report)])
    finally:
        threading_timer.join()
        stdin.close()
    err = capsys.readouterr().err
    assert code == 0, err
    assert "live: side by side on" in err and "live: enhancement off" in err
    status = next(line for line in err.splitlines() if line.startswith("live: ") and "fps" in line)
    assert "p50" in status and "p95" in status
    data = json.loads(report.read_text())
    assert data["stopped"] == "quit" and data["frames"] >= 2
    assert 0 < data["latency_ms"]["p50"] <= data["latency_ms"]["p95"] <= data["latency_ms"]["max"]
    assert [c["state"] for c in data["controls"]] == ["side by side on", "enhancement off"]
    assert data["virtual_camera"] is None and data["recording"] is None
