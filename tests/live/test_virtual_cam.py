"""The virtual camera: pacing, held frames, size conversion and the no-backend error at pyvirtualcam's
boundary; a real v4l2loopback device where one exists."""
from __future__ import annotations

import glob
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from gpen_video.cli import exit_code_for, main
from gpen_video.config import build_settings
from gpen_video.engine import Engine
from gpen_video.errors import MissingExtra, VirtualCameraUnavailable
from gpen_video.live.loop import run_live
from gpen_video.review.metrics import psnr
from gpen_video.live.virtual_cam import (
    CameraFeed,
    FramePacer,
    camera_fps,
    camera_size,
    fit_frame,
    open_virtual_camera,
)
from tests.helpers.fakes import FixedDetector, SlowRestorer
from tests.helpers.live import ScriptedKeys, ScriptedSource
from tests.helpers.real_media import video_frames

pytestmark = pytest.mark.serial  # asserts wall-clock behaviour: run apart from the parallel pass


class FakeCamera:
    """A :class:`VirtualCamera` that keeps what it was sent, with the time of each send."""

    def __init__(self, width: int, height: int, fps: float, clock=time.monotonic) -> None:
        self.width, self.height, self.fps, self.device = width, height, fps, "/dev/fake"
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.clock = clock
        self.closed = False

    def send(self, rgb: np.ndarray) -> None:
        assert rgb.dtype == np.uint8 and rgb.shape == (self.height, self.width, 3) and rgb.flags.c_contiguous
        self.frames.append(rgb.copy())
        self.times.append(self.clock())

    def close(self) -> None:
        self.closed = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def loopback_devices() -> list[str]:
    """/dev/videoN nodes that v4l2loopback made (their sysfs name says so)."""
    found = []
    for name_file in sorted(glob.glob("/sys/devices/virtual/video4linux/video*/name")):
        if "loopback" in Path(name_file).read_text().lower() or "dummy" in Path(name_file).read_text().lower():
            found.append("/dev/" + Path(name_file).parent.name)
    return found


# ------------------------------------------------------------------------------ pure pieces
def test_pacer_keeps_a_grid_and_never_bursts_after_a_stall() -> None:
    pacer = FramePacer(25, start=10.0)
    assert pacer.wait(10.0) == 0.0
    pacer.advance(10.001)  # sent a little late: the next tick stays on the grid
    assert pacer.due == pytest.approx(10.04) and pacer.wait(10.02) == pytest.approx(0.02)
    pacer.advance(10.04)
    pacer.advance(10.2)  # a send that took 0.12 s: ticks 10.12 ... 10.2 are skipped, not sent in a burst
    assert pacer.due == pytest.approx(10.24) and pacer.skipped == 3
    with pytest.raises(ValueError):
        FramePacer(0, 0.0)


def test_camera_size_fps_and_fitting() -> None:
    assert camera_size((641, 481), (0, 0)) == (640, 480)  # 4:2:0 backends need even sizes
    assert camera_size((640, 480), (1280, 720)) == (1280, 720)
    assert camera_fps(Fraction(30000, 1001), 0) == pytest.approx(29.97, abs=0.01)
    assert camera_fps(None, 0) == 30.0 and camera_fps(Fraction(25), 15) == 15.0

    image = video_frames("talking_head_844.mp4", 1)[0]  # 844 x 844
    same = fit_frame(image[:480, :640], 640, 480)
    assert np.array_equal(same, image[:480, :640]) and same.flags.c_contiguous
    # Side by side (2:1) into a 4:3 camera: scaled to the width, centred between black bars.
    both = np.hstack([image, image])
    fitted = fit_frame(both, 640, 480)
    assert fitted.shape == (480, 640, 3)
    assert fitted[:80].max() == 0 and fitted[-80:].max() == 0  # 160 rows of bars, 80 above and below
    assert psnr(fitted[80:400], cv2.resize(both, (640, 320), interpolation=cv2.INTER_AREA)) == float("inf")
    # Upscaling a tall picture into a wide camera: pillarbox.
    tall = fit_frame(image[:, :422], 1280, 720)
    assert tall.shape == (720, 1280, 3) and tall[:, :460].max() == 0 and tall[:, -460:].max() == 0


def test_feed_paces_holds_the_last_frame_and_measures_latency() -> None:
    clock = FakeClock()
    camera = FakeCamera(160, 120, 32, clock)  # 1/32 s: exact in binary, so the fake clock lands on the ticks
    feed = CameraFeed(camera, clock=clock)
    period = 1 / 32
    frames = [np.full((240, 320, 3), 10 * (k + 1), np.uint8) for k in range(3)]

    assert feed.step(clock.now)  # the first tick: black, nothing enhanced yet
    assert camera.frames[0].max() == 0 and feed.stats.blank == 1
    clock.now += period / 2
    assert not feed.step(clock.now)  # between ticks: nothing
    # The engine delivers one frame every third tick (slower than the camera).
    for k, image in enumerate(frames):
        feed.offer(image, captured=clock.now - 0.05)
        for _ in range(3):
            clock.now += period / 2
            assert feed.step(clock.now)
            clock.now += period / 2
            assert not feed.step(clock.now)
    sent = camera.frames[1:]
    assert len(sent) == 9 and feed.stats.sent == 10
    assert [int(f[60, 80, 0]) for f in sent] == [10, 10, 10, 20, 20, 20, 30, 30, 30]  # held, not skipped
    assert feed.stats.fresh == 3 and feed.stats.held == 6
    assert np.diff(camera.times).tolist() == pytest.approx([period] * 9)  # a steady stream
    lat = feed.tracker.summary()
    assert lat["frames"] == 3 and lat["p50"] == pytest.approx(0.05 + period / 2)  # waits for the next tick
    assert sent[0].shape == (120, 160, 3) and int(sent[0][60, 80, 1]) == 10  # 4:3 into 4:3: scaled whole


# ------------------------------------------------------------------------------ pyvirtualcam's boundary
@pytest.mark.skipif(bool(loopback_devices()), reason="a loopback device exists: the backend is there")
def test_no_backend_is_one_line_naming_what_to_load(monkeypatch, capsys, tmp_path: Path) -> None:
    with pytest.raises(VirtualCameraUnavailable) as caught:
        open_virtual_camera(64, 48, 25.0)  # the real pyvirtualcam, which finds no backend here
    text = str(caught.value)
    assert "\n" not in text and exit_code_for(caught.value) == 2
    if sys.platform.startswith("linux"):
        assert "modprobe v4l2loopback devices=1 exclusive_caps=1" in text

    # The same from the command line: exit 2, one line, before any model is loaded.
    source = str(Path(__file__).parents[1] / "data" / "talking_head_844.mp4")
    missing = str(tmp_path / "missing.pth")  # would be exit 3, but the camera is checked first
    assert main(["live", "--source", source, "--no-window", "--virtual-cam", "--weights", missing]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "no virtual camera" in lines[0], lines


def test_backend_errors_and_a_missing_package_are_one_line(monkeypatch) -> None:
    import pyvirtualcam

    def refuse(*args, **kwargs):
        raise RuntimeError("'obs' backend: OBS Virtual Camera is not installed\n'unitycapture' backend: not found")

    monkeypatch.setattr(pyvirtualcam, "Camera", refuse)
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(VirtualCameraUnavailable) as caught:
        open_virtual_camera(64, 48, 25.0)
    assert "\n" not in str(caught.value) and "OBS Virtual Camera is not installed; 'unitycapture'" in str(caught.value)
    assert "install OBS Studio" in caught.value.remedy

    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # not installed
    with pytest.raises(MissingExtra, match=r"gpen-video\[live\]"):
        open_virtual_camera(64, 48, 25.0)


class CountingWindow:
    shown = 0

    def __init__(self) -> None:
        CountingWindow.shown = 0

    def show(self, view, lines):
        CountingWindow.shown += 1

    def close(self) -> None:
        pass


@pytest.mark.timeout(60)
def test_live_run_feeds_a_steady_camera_while_the_engine_is_slower(tmp_path: Path) -> None:
    """Engine at ~8 fps, camera at 25 fps: every tick sends a frame, the gaps are the held last frame.
    The window and a recording run at the same time."""
    opened: list[FakeCamera] = []

    def camera_opener(width, height, fps, device):
        opened.append(FakeCamera(width, height, fps))
        return opened[-1]

    settings = build_settings("webcam", {"live": {"window": True, "virtual_cam": True, "cam_width": 160,
                                                  "cam_height": 120}})
    engine = Engine(settings, restorer=SlowRestorer(0.12), detector=FixedDetector(160, 80, 60))
    result = run_live("fake://camera", settings, output=tmp_path / "rec.mp4", engine=engine,
                      opener=lambda _: ScriptedSource(1000, None), camera_opener=camera_opener,
                      keys=ScriptedKeys({11: "q"}), window=CountingWindow())
    assert result.stopped == "quit" and result.frames >= 12
    assert CountingWindow.shown == 12 and result.writer.frames == result.frames  # frames in flight at the quit: recorded
    (camera,) = opened
    stats = result.camera
    assert (camera.width, camera.height, camera.fps) == (160, 120, 25.0) and camera.closed
    # Every frame handed out reached the camera (the last one may have come after its last tick).
    assert result.frames - 1 <= stats.fresh <= result.frames and stats.replaced == 0
    assert stats.held > stats.fresh  # the camera is faster than the engine: the last frame is held
    assert stats.sent == len(camera.frames) == stats.fresh + stats.held + stats.blank
    gaps = np.diff(camera.times)
    assert np.median(gaps) == pytest.approx(1 / 25, rel=0.25)  # paced at the camera's rate, not the engine's
    # A square source in a 4:3 camera: pillarboxed, the picture in the middle.
    last = camera.frames[-1]
    assert last[:, :20].max() == 0 and last[:, -20:].max() == 0 and last[60, 80].min() > 0
    lat, cam = result.latency, result.camera_latency
    assert cam["frames"] == stats.fresh and cam["p50"] >= lat["p50"] - 0.01  # the camera comes after the hand-out
    assert cam["p95"] < lat["p95"] + 2 / 25 + 0.05  # ...by at most about a camera tick


# ------------------------------------------------------------------------------ a real device
def test_a_real_v4l2loopback_device_round_trip() -> None:
    devices = loopback_devices()
    if not devices:
        pytest.skip("no v4l2loopback device here (load it with: sudo modprobe v4l2loopback devices=1 exclusive_caps=1)")
    image = cv2.resize(video_frames("talking_head_844.mp4", 1)[0], (320, 240), interpolation=cv2.INTER_AREA)
    camera = open_virtual_camera(320, 240, 25.0, devices[0])
    try:
        camera.send(image)  # exclusive_caps: a reader appears only once a writer has sent a frame
        reader = cv2.VideoCapture(camera.device, cv2.CAP_V4L2)
        try:
            got = None
            for _ in range(20):
                camera.send(image)
                ok, bgr = reader.read()
                if ok:
                    got = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    break
            assert got is not None, f"nothing could be read back from {camera.device}"
            assert got.shape == image.shape and psnr(got, image) > 30  # through the device's 4:2:0 format
        finally:
            reader.release()
    finally:
        camera.close()
