"""Live runs: a video file played at its real-time rate is the fake camera; everything runs headless.

The building blocks have their own files: capture (test_capture), latency, display, controls, virtual_cam."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gpen_video.cli import main
from gpen_video.config import build_settings
from gpen_video.engine import Engine
from gpen_video.errors import MediaOpenError
from gpen_video.live.loop import run_live
from gpen_video.media.camera import OpenCVCamera
from gpen_video.media.reader import VideoReader
from gpen_video.review.metrics import psnr
from gpen_video.restore import PassthroughRestorer
from tests.helpers.cli import run_cli
from tests.helpers.fakes import FixedDetector, SlowRestorer, save_tiny_gpen
from tests.helpers.live import ScriptedSource
from tests.helpers.paths import ROOT
from tests.helpers.servers import serve_once
from tests.helpers.streams import video_pts

pytestmark = pytest.mark.serial  # asserts wall-clock behaviour: run apart from the parallel pass

SIDE = 320  # the fake camera's frame size
FPS = 25
SECONDS = 3


def _encode(source: Path, dest: Path, fmt: str | None = None) -> None:
    """The first SECONDS of ``source`` scaled to SIDE x SIDE, H.264 at FPS, no audio."""
    with av.open(str(source)) as inp, av.open(str(dest), "w", format=fmt) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width = stream.height = SIDE
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        for i, frame in enumerate(inp.decode(video=0)):
            if i >= FPS * SECONDS:
                break
            small = frame.reformat(width=SIDE, height=SIDE, format="yuv420p")
            small.pts = i
            small.time_base = Fraction(1, FPS)
            out.mux(stream.encode(small))
        out.mux(stream.encode(None))


@pytest.fixture(scope="module")
def clip(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("live") / "cam.mp4"
    _encode(data_dir / "talking_head_844.mp4", path)
    return path


def live_settings(**live):
    return build_settings("webcam", {"live": {"window": False, **live}})


def decoded_seconds(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


# ------------------------------------------------------------------------------- building blocks
def test_engine_queue_depth(clip: Path) -> None:
    settings = live_settings()
    engine = Engine(settings, restorer=PassthroughRestorer(size=128, batch_size=1), detector=FixedDetector(160, 80, 60))
    with VideoReader(clip) as reader:
        frames = [f for _, f in zip(range(6), reader)]
    deep = [r.enhanced for r in engine.stream(frames)]
    shallow = [r.enhanced for r in engine.stream(frames, queue_depth=1)]
    assert len(shallow) == 6 and all(np.array_equal(a, b) for a, b in zip(deep, shallow))
    with pytest.raises(ValueError):
        next(engine.stream(frames, queue_depth=0))


def test_opencv_camera_delivers_rgb_with_capture_times(clip: Path) -> None:
    camera = OpenCVCamera(str(clip))
    try:
        frames = [f for _, f in zip(range(3), camera)]
    finally:
        camera.close()
    with VideoReader(clip) as reader:
        reference = next(iter(reader)).image
    assert camera.info.width == camera.info.height == SIDE
    assert psnr(frames[0].image, reference) > 30  # a BGR mix-up would be far below
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(a.time <= b.time for a, b in zip(frames, frames[1:]))


# ------------------------------------------------------------------------------------ live runs
def test_slow_processing_drops_frames_keeps_latency_bounded_and_records(clip: Path, tmp_path: Path) -> None:
    work = 0.12  # seconds per frame: about 8 fps against a 25 fps source
    settings = live_settings()
    engine = Engine(settings, restorer=SlowRestorer(work), detector=FixedDetector(160, 80, 60))
    output = tmp_path / "rec.mp4"
    result = run_live(str(clip), settings, output=output, engine=engine)

    assert result.stopped == "end"
    assert result.captured == FPS * SECONDS  # every source frame reached the slot...
    assert result.frames + result.dropped == result.captured  # ...and was either shown or dropped
    assert result.dropped > result.captured / 2  # processing runs at about a third of the source rate
    assert result.frames >= 10 and result.stats.faces == result.frames

    lat = result.latency
    bound = (settings.live.max_in_flight + 1) * work + 0.2  # waiting behind the frames in flight, plus slack
    assert lat["p95"] < bound, lat
    assert lat["p95_second_half"] < lat["p95_first_half"] * 1.3 + 0.05, lat  # no upward drift
    assert lat["trend"] < 0.1, lat  # a growing queue would show about +0.65 s per second

    # The recording: one frame per shown frame, timestamps = capture times, strictly increasing.
    assert result.output == str(output) and result.writer.frames == result.frames
    seconds = decoded_seconds(output)
    assert len(seconds) == result.frames
    assert all(b > a for a, b in zip(seconds, seconds[1:]))
    captured = [c for c, _ in result.latency_samples]
    assert np.allclose(np.subtract(seconds, seconds[0]), np.subtract(captured, captured[0]), atol=0.002)
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]


def test_disconnect_reconnects_with_backoff_then_gives_up(tmp_path: Path) -> None:
    script = [ScriptedSource(10, OSError("camera unplugged")), MediaOpenError("no device"), ScriptedSource(10, None)]
    opened: list[float] = []

    def opener(source):
        opened.append(time.monotonic())
        step = script.pop(0) if script else MediaOpenError("still gone")
        if isinstance(step, Exception):
            raise step
        return step

    settings = live_settings(reconnect_seconds=1.0)
    engine = Engine(settings, restorer=PassthroughRestorer(size=128, batch_size=1), detector=FixedDetector(160, 80, 60))
    output = tmp_path / "rec.mp4"
    result = run_live("fake://camera", settings, output=output, engine=engine, opener=opener)

    assert result.stopped == "lost"
    assert result.captured == 20 and result.reconnects == 1  # frames from before and after the reconnect
    assert "camera unplugged" in result.losses[0] and "ended" in result.losses[1]
    # First loss: fail, then succeed 0.25 s later. Second loss: attempts with doubling waits for 1 s.
    gaps = np.diff(opened[3:])
    assert result.attempts == len(opened) - 1 >= 4
    assert gaps[0] == pytest.approx(0.25, abs=0.1) and gaps[1] == pytest.approx(0.5, abs=0.1)
    assert opened[-1] - opened[3] == pytest.approx(1.0, abs=0.15)  # gave up when the time was over
    assert len(decoded_seconds(output)) == result.frames == result.writer.frames


def test_an_error_while_showing_stops_the_run_at_once() -> None:
    """A raising progress listener must end the run quickly, not after the engine's 10 s join timeout."""
    settings = live_settings()
    engine = Engine(settings, restorer=SlowRestorer(0.05), detector=FixedDetector(160, 80, 60))

    def on_progress(progress) -> None:
        if progress.done == 5:
            raise RuntimeError("display broke")

    began = time.monotonic()
    with pytest.raises(RuntimeError, match="display broke"):
        # About 40 s of source: only a stuck shutdown, not the source ending, could make this slow.
        run_live("fake://camera", settings, engine=engine, opener=lambda _: ScriptedSource(1000, None),
                 progress=on_progress)
    assert time.monotonic() - began < 3.0


class FakeWindow:
    """Stands in for ``LiveWindow``: records the overlay lines and asks to quit on the third frame."""

    instances: list["FakeWindow"] = []

    def __init__(self) -> None:
        self.shown: list[list[str]] = []
        FakeWindow.instances.append(self)

    def show(self, view, lines) -> str | None:
        self.shown.append(lines)
        return "q" if len(self.shown) == 3 else None

    def close(self) -> None:
        pass


def test_quit_stops_showing_and_the_overlay_shows_its_own_frame(tmp_path: Path) -> None:
    FakeWindow.instances.clear()
    settings = live_settings(window=True, max_in_flight=2)
    engine = Engine(settings, restorer=SlowRestorer(0.05), detector=FixedDetector(160, 80, 60))
    updates: list[str] = []
    result = run_live("fake://camera", settings, output=tmp_path / "rec.mp4", engine=engine,
                      opener=lambda _: ScriptedSource(1000, None), progress=lambda p: updates.append(p.detail),
                      window=FakeWindow())

    (window,) = FakeWindow.instances
    assert result.stopped == "quit"
    assert len(window.shown) == 3  # nothing drawn after the quit: a closed window is not re-created
    assert ["  ".join(lines) for lines in window.shown] == updates[:3]  # one status per frame, with that frame's numbers
    assert result.writer.frames == result.frames >= 3  # frames in flight at the quit are still recorded


# ------------------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_gpen(tmp_path_factory.mktemp("weights") / "tiny-gpen.pth")


def test_cli_live_with_a_tiny_gpen_checkpoint(clip: Path, tmp_path: Path, tiny_checkpoint: Path) -> None:
    output = tmp_path / "rec.mp4"
    result = run_cli("live", "--source", clip, "--no-window", "--weights", tiny_checkpoint, "--device", "cpu",
                     "--preset", "ultrafast", "-o", output, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "frames dropped" in result.stderr and "stopped" in result.stderr
    pts = video_pts(output)
    # How many frames keep up with the real-time source depends on the machine's load; what must
    # hold is a real recording with strictly increasing capture timestamps.
    assert len(pts) >= FPS // 2 and all(b > a for a, b in zip(pts, pts[1:]))


def test_cli_source_that_never_opens_exits_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["live", "--source", "rtsp://127.0.0.1:9/cam", "--no-window", "--restorer", "none"]) == 2
    assert main(["live", "--source", "no/such/file.mp4", "--no-window"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 2 and "cannot open" in lines[0] and "source not found" in lines[1]


def test_cli_window_without_a_display_is_a_usage_error(clip: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if not sys.platform.startswith("linux"):
        pytest.skip("the display check is for Linux")
    assert main(["live", "--source", str(clip), "--restorer", "none"]) == 2
    assert "--no-window" in capsys.readouterr().err


def test_cli_stream_lost_mid_way_reconnects_then_exits_4(data_dir: Path, tmp_path: Path) -> None:
    ts = tmp_path / "cam.ts"
    _encode(data_dir / "talking_head_844.mp4", ts, fmt="mpegts")
    data = ts.read_bytes()
    part = data[: len(data) // 2 // 188 * 188]  # about 1.5 s of video, cut at a TS packet boundary
    port = serve_once(part)
    output = tmp_path / "rec.mp4"
    began = time.monotonic()
    result = run_cli("live", "--source", f"http://127.0.0.1:{port}/cam.ts", "--no-window", "--restorer", "none",
                     "--reconnect-seconds", "1", "--preset", "ultrafast", "-o", output, timeout=60)
    assert result.returncode == 4, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("gpen-video: error: lost the source") and "recording kept" in last
    assert "reconnect attempt" in last and time.monotonic() - began < 30
    seconds = decoded_seconds(output)
    assert 5 < len(seconds) and seconds[-1] < 2.0


def test_cli_sigint_stops_within_2s_and_keeps_the_recording(data_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "rec.mp4"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpen_video", "live", "--source", str(data_dir / "talking_head_844.mp4"),
         "--no-window", "--restorer", "none", "--preset", "ultrafast", "-o", str(output)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".rec.*")):  # the recording's temporary file: frames are flowing
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
            time.sleep(0.05)
        time.sleep(1.0)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        while not output.exists() and time.monotonic() - sent < 10:  # renamed into place once finalised
            time.sleep(0.02)
        finalised = time.monotonic() - sent
        _, err = proc.communicate(timeout=20)
        exited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    # The run stops and the file is complete within 2 s. The interpreter's own teardown (torch,
    # onnxruntime) comes after that: about 1 s on a quiet 2-core machine, more when the cores are shared.
    assert finalised < 2.0, (finalised, exited)
    assert exited < 10.0
    assert "interrupted; recording kept" in err
    pts = video_pts(output)
    assert len(pts) >= 5 and all(b > a for a, b in zip(pts, pts[1:]))
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]


def test_upscaled_live_run_records_the_enlarged_stream_with_a_notice(tmp_path: Path) -> None:
    settings = build_settings("webcam", {"live": {"window": False, "reconnect_seconds": 0.0}, "upscale": {"scale": 2}})
    engine = Engine(settings, restorer=PassthroughRestorer(size=128, batch_size=1), detector=FixedDetector(160, 80, 60))
    output = tmp_path / "rec.mp4"
    script = [ScriptedSource(8, None)]

    def opener(source):
        if not script:
            raise MediaOpenError("gone")
        return script.pop()

    result = run_live("fake://camera", settings, output=output, engine=engine, opener=opener)
    assert result.frames == result.writer.frames >= 1
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (2 * SIDE, 2 * SIDE)
    assert any(note.startswith("upscale 2:") for note in result.notes)
