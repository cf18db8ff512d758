"""The engine's device frame path, forced on the CPU, against the host path on the real clips: the same
pictures (face-region PSNR >= 45 dB), the same frames and timestamps; the encoder's planes made on the device;
with a restorer that takes tensors, crops that stay on the device from cut to paste."""
from __future__ import annotations

import threading
from dataclasses import replace
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
import torch

from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.faces.detect import build_detector
from gpen_video.gpu.frames import DeviceFramePath
from gpen_video.review.metrics import psnr
from gpen_video.restore import GpenRestorer, PassthroughRestorer
from gpen_video.types import Frame, FrameResult
from tests.helpers.paths import DATA
from tests.helpers.real_media import video_frames

FRAMES = 5
# (clip, width the frames are shrunk to): the crowd's many small faces, the talking head's one large face.
CLIPS = [("crowd_1080p.mp4", 960), ("talking_head_844.mp4", 422)]


class ReplayDetector:
    """The embedded RetinaFace's detections, computed once per frame and replayed to every engine."""

    def __init__(self) -> None:
        self._inner = build_detector(Settings().faces)
        self._seen: dict[bytes, list] = {}

    def detect(self, images):
        keys = [image[::37, ::37].tobytes() for image in images]  # a sparse sample tells the frames apart
        missing = [image for key, image in zip(keys, images) if key not in self._seen]
        for image, found in zip(missing, self._inner.detect(missing) if missing else []):
            self._seen[image[::37, ::37].tobytes()] = found
        return [self._seen[key] for key in keys]


@pytest.fixture(scope="module")
def detector() -> ReplayDetector:
    return ReplayDetector()


def clip_frames(name: str, width: int) -> list[Frame]:
    """The clip's first frames, shrunk to ``width``, with 25 fps timestamps at 1/12800."""
    out = []
    for i, image in enumerate(video_frames(name, FRAMES)):
        height = round(image.shape[0] * width / image.shape[1])
        small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        out.append(Frame(i, 1000 + i * 512, Fraction(1, 12800), small))
    return out


def run(restorer, detector: ReplayDetector, frames: list[Frame], frame_path: str) -> tuple[Engine, list[FrameResult]]:
    settings = Settings()
    settings.restore.frame_path = frame_path
    settings.faces.confirm_frames, settings.faces.fade_frames = 1, 0  # every face pasted from the first frame
    engine = Engine(settings, restorer=restorer, detector=detector)
    return engine, list(engine.stream(frames, planes=True))


def face_mask(result: FrameResult) -> np.ndarray:
    """bool [H, W]: the frame's detection boxes, grown by half their size (the pasted region and more)."""
    h, w = result.enhanced.shape[:2]
    mask = np.zeros((h, w), bool)
    for face in result.faces:
        x0, y0, x1, y1 = face.box
        grow = 0.5 * max(x1 - x0, y1 - y0)
        mask[max(0, int(y0 - grow)):int(y1 + grow) + 1, max(0, int(x0 - grow)):int(x1 + grow) + 1] = True
    return mask


def compare(host: list[FrameResult], device: list[FrameResult]) -> tuple[float, float]:
    """(lowest face-region PSNR device vs host over the frames, lowest face-region PSNR host vs input)."""
    assert [r.frame.index for r in device] == [r.frame.index for r in host] == list(range(FRAMES))
    assert [r.frame.pts for r in device] == [r.frame.pts for r in host]
    same, changed = [], []
    for h, d in zip(host, device):
        assert [f.track_id for f in d.faces] == [f.track_id for f in h.faces]
        assert d.enhanced.shape == h.enhanced.shape and d.enhanced.dtype == np.uint8
        mask = face_mask(h)
        assert mask.any()
        same.append(psnr(d.enhanced, h.enhanced, mask))
        changed.append(psnr(h.enhanced, h.frame.image, mask))
    return min(same), min(changed)


@pytest.mark.parametrize("clip, width", CLIPS)
def test_device_path_matches_host_path_with_the_passthrough_restorer(detector, clip, width):
    frames = clip_frames(clip, width)
    _, host = run(PassthroughRestorer(size=512), detector, frames, "host")
    engine, device = run(PassthroughRestorer(size=512), detector, frames, "device")
    assert engine.frame_path.name == "device"
    same, _ = compare(host, device)
    assert same >= 45.0, f"{clip}: face-region PSNR device vs host {same:.1f} dB"
    assert all(result.planes is None for result in host)  # the host path leaves YUV to the encoder
    for result in device:  # the encoder's planes, converted on the device, as swscale would make them
        want = av.VideoFrame.from_ndarray(result.enhanced, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="itu709", dst_color_range="MPEG").to_ndarray()
        assert result.planes.shape == want.shape and result.planes.dtype == np.uint8
        diff = np.abs(result.planes.astype(np.int16) - want)
        luma, chroma = diff[: result.enhanced.shape[0]], diff[result.enhanced.shape[0]:]
        # swscale works in fixed point: Y within 1 level, U and V (2x2 averages) within a few
        assert luma.max() <= 1 and chroma.max() <= 4 and np.mean(chroma > 1) < 0.01, (luma.max(), chroma.max())


@pytest.mark.parametrize("clip, width", CLIPS)
def test_device_path_matches_host_path_with_a_tiny_gpen(tiny_reference, detector, clip, width):
    model, _ = tiny_reference
    frames = clip_frames(clip, width)
    restorer = GpenRestorer(model, device="cpu", batch_size=4, precision="fp32")
    _, host = run(restorer, detector, frames, "host")
    engine, device = run(restorer, detector, frames, "device")
    assert engine.frame_path.name == "device"
    same, changed = compare(host, device)
    assert changed < 30.0, "the random-weight GPEN must change the faces, or this compares nothing"
    assert same >= 45.0, f"{clip}: face-region PSNR device vs host {same:.1f} dB"


def test_a_video_written_through_the_device_path_keeps_frames_timing_and_audio(detector, tmp_path):
    from gpen_video.job import enhance_video
    from tests.helpers.real_media import cut_clip
    from tests.helpers.streams import frame_times, packets

    clip = cut_clip(DATA / "talking_head_844.mp4", tmp_path / "clip.mp4", seconds=0.4, width=320)
    written = {}
    for frame_path in ("host", "device"):
        settings = Settings()
        settings.restore.frame_path = frame_path
        settings.encode = replace(settings.encode, preset="ultrafast")
        engine = Engine(settings, restorer=PassthroughRestorer(size=512), detector=detector)
        written[frame_path] = tmp_path / f"{frame_path}.mp4"
        result = enhance_video(clip, written[frame_path], settings, engine=engine)
        assert result.stats.faces > 0 and engine.frame_path.name == frame_path
    assert frame_times(written["device"]) == frame_times(written["host"]) == frame_times(clip)
    assert packets(written["device"], "audio") == packets(written["host"], "audio") != [[]]
    with av.open(str(written["host"])) as a, av.open(str(written["device"])) as b:
        for x, y in zip(a.decode(video=0), b.decode(video=0)):
            assert psnr(x.to_ndarray(format="rgb24"), y.to_ndarray(format="rgb24")) > 40


class ContrastRestorer(PassthroughRestorer):
    """A restorer that changes every face the same way on every path: ``round(0.8 crop + 40)``."""

    def restore(self, crops):
        return np.rint(crops.astype(np.float32) * 0.8 + 40.0).astype(np.uint8)


class TensorContrastRestorer(ContrastRestorer):
    """``ContrastRestorer`` that also takes and returns crop tensors (a ``protocols.TensorRestorer``)."""

    def submit_tensors(self, crops, tag=None):
        self._done.append((tag, (crops.float() * 0.8 + 40.0).round_().to(torch.uint8)))


class HostCrossings:
    """Patches ``torch.Tensor.numpy`` and ``.cpu`` so that, outside the device frame path's own ``cut`` and
    ``paste``, no tensor larger than the blender's grey thumbnails (two of at most 160 x 160 per face) reaches
    the host; those it lets through are counted."""

    def __init__(self, monkeypatch, faces_per_frame: int) -> None:
        self.inside = threading.local()
        self.thumbnails = 0
        self.limit = 2 * 160 * 160 * faces_per_frame
        for name in ("numpy", "cpu"):
            monkeypatch.setattr(torch.Tensor, name, self._guard(getattr(torch.Tensor, name), name == "cpu"))
        for name in ("cut", "paste"):
            monkeypatch.setattr(DeviceFramePath, name, self._allow(getattr(DeviceFramePath, name)))

    def _guard(self, method, download: bool):
        def guarded(tensor, *args, **kwargs):
            if not getattr(self.inside, "path", False):
                if tensor.numel() > self.limit:
                    raise AssertionError(f"a {list(tensor.shape)} tensor left the device between cut and paste")
                self.thumbnails += download
            return method(tensor, *args, **kwargs)
        return guarded

    def _allow(self, method):
        def allowed(*args, **kwargs):
            self.inside.path = True
            try:
                return method(*args, **kwargs)
            finally:
                self.inside.path = False
        return allowed


@pytest.mark.parametrize("clip, width", CLIPS)
def test_the_resident_device_path_keeps_crops_on_the_device_and_matches_the_host_path(
        detector, monkeypatch, clip, width):
    frames = clip_frames(clip, width)
    _, host = run(ContrastRestorer(size=512), detector, frames, "host")
    faces = max(len(result.faces) for result in host)
    crossings = HostCrossings(monkeypatch, faces)
    engine, device = run(TensorContrastRestorer(size=512), detector, frames, "device")
    assert engine.frame_path.name == "device" and engine.frame_path.resident
    assert 0 < crossings.thumbnails <= FRAMES - 1  # the blender's flow: one download per frame after the first
    same, changed = compare(host, device)
    assert changed < 35.0, "the restorer must change the faces, or this compares nothing"
    assert same >= 45.0, f"{clip}: face-region PSNR device vs host {same:.1f} dB"


def test_a_numpy_restorer_keeps_the_device_path_off_the_resident_crops(detector):
    engine, _ = run(ContrastRestorer(size=512), detector, clip_frames(*CLIPS[1])[:1], "device")
    assert engine.frame_path.name == "device" and not engine.frame_path.resident


def test_observers_of_the_resident_device_path_get_host_crops(detector):
    seen = []

    class Recorder:
        def observe(self, result, faces):
            seen.append([result.faces[0].crop, faces[0].aligned.crop, faces[0].restored, faces[0].blended])

    settings = Settings()
    settings.restore.frame_path = "device"
    settings.faces.confirm_frames, settings.faces.fade_frames = 1, 0
    engine = Engine(settings, restorer=TensorContrastRestorer(size=512), detector=detector)
    results = list(engine.stream(clip_frames(*CLIPS[1])[:2], observer=Recorder()))
    assert engine.frame_path.resident and len(seen) == len(results) == 2
    for crop, aligned, restored, blended in seen:
        assert all(isinstance(a, np.ndarray) and a.shape == (512, 512, 3) for a in (crop, aligned, restored, blended))
        assert np.array_equal(restored, np.rint(crop.astype(np.float32) * 0.8 + 40.0).astype(np.uint8))
