"""The streaming engine with stand-in detectors and restorers: order, batching, fidelity, failures."""
from __future__ import annotations

import ast
import inspect
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from gpen_video import engine as engine_module
from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.types import PipelineStats
from gpen_video.faces.compose import FaceCompositor
from gpen_video.review.metrics import psnr
from gpen_video.types import Frame
from tests.helpers.fakes import FixedDetector, RecordingRestorer

def frames(count: int, *, seed: int = 0) -> list[Frame]:
    y, x = np.mgrid[0:180, 0:200].astype(np.float32)
    shade = 128 + 60 * np.sin(x / 9.0 + seed) * np.cos(y / 11.0)  # smooth texture a warp keeps
    base = np.clip(np.stack([shade, shade * 0.8, 255 - shade], axis=2), 0, 255).astype(np.uint8)
    return [Frame(i, i * 512, Fraction(1, 12800), base.copy()) for i in range(count)]


def engine(restorer, *, batch_size: int = 4, temporal: float = 0.0, detect_every: int = 1) -> Engine:
    settings = Settings()
    settings.restore.batch_size = batch_size
    settings.faces.temporal = temporal
    settings.faces.detect_every = detect_every
    restorer.batch_size = batch_size
    return Engine(settings, restorer=restorer, detector=FixedDetector())


def test_frames_come_out_in_order_with_every_face() -> None:
    restorer = RecordingRestorer()
    stats = PipelineStats()
    source = frames(30)
    results = list(engine(restorer).stream(source, stats=stats))
    assert [r.frame.index for r in results] == list(range(30))
    assert [r.frame.pts for r in results] == [f.pts for f in source]
    assert sum(restorer.batches) == 30 and max(restorer.batches) <= 4
    assert stats.frames == 30 and stats.faces == 30 and len(stats.track_ids) == 1


def test_passthrough_restorer_reproduces_the_frame() -> None:
    for result in engine(RecordingRestorer()).stream(frames(3)):
        face = (slice(30, 126), slice(40, 136))
        assert psnr(result.enhanced[face], result.frame.image[face]) >= 45


def test_restored_faces_are_pasted_inside_the_face_only() -> None:
    (result,) = list(engine(RecordingRestorer(invert=True)).stream(frames(1)))
    changed = np.abs(result.enhanced.astype(int) - result.frame.image.astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed[78, 88]  # the face centre
    assert xs.min() >= 20 and xs.max() <= 160 and ys.min() >= 5 and ys.max() <= 155


def test_detect_every_runs_the_detector_less_often() -> None:
    e = engine(RecordingRestorer(), detect_every=5)
    results = list(e.stream(frames(20)))
    assert e.detector.calls == 4
    assert all(len(r.faces) == 1 for r in results)


def test_a_failing_stage_stops_every_thread_and_raises() -> None:
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="exploded"):
        list(engine(RecordingRestorer(fail_after=2), batch_size=1).stream(frames(40)))
    assert threading.active_count() == before


def test_closing_the_stream_early_stops_the_threads() -> None:
    before = threading.active_count()
    stream = engine(RecordingRestorer()).stream(frames(200))
    next(stream)
    stream.close()
    assert threading.active_count() == before


class HalfMaskParser:
    """Stand-in face parser: keeps the left half of each crop, drops the right half."""

    def masks(self, crops):
        masks = np.zeros(crops.shape[:3], np.float32)
        masks[:, :, : crops.shape[2] // 2] = 1.0
        return masks


def test_parser_masks_replace_the_soft_mask() -> None:
    settings = Settings()
    settings.faces.temporal = 0.0
    restorer = RecordingRestorer(invert=True)
    eng = Engine(settings, restorer=restorer, detector=FixedDetector(), parser=HalfMaskParser())
    (result,) = list(eng.stream(frames(1)))
    original = result.frame.image.astype(int)
    changed = np.abs(result.enhanced.astype(int) - original).max(axis=2) > 0
    # Landmarks sit in the 96 px box at (40, 30); the crop's left half is the face's left half.
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 1000
    assert xs.max() < 40 + 96 * 0.62, "pixels right of the crop's middle must keep the original"
    assert np.array_equal(result.enhanced[:, 120:], result.frame.image[:, 120:])


class RecordingObserver:
    """Keeps what the engine shows a frame observer."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, list]] = []

    def observe(self, result, faces) -> None:
        self.seen.append((result.frame.index, list(faces)))


def test_observer_sees_every_pasted_frame_with_its_faces() -> None:
    observer = RecordingObserver()
    results = list(engine(RecordingRestorer(invert=True)).stream(frames(5), observer=observer))
    assert [index for index, _ in observer.seen] == list(range(5))
    for result, (_, faces) in zip(results, observer.seen):
        (face,) = faces
        assert face.aligned is result.faces[0] and face.tracked.track_id == face.aligned.track_id
        assert np.array_equal(face.restored, 255 - face.aligned.crop)  # temporal 0: blended is restored
        assert np.array_equal(face.blended, face.restored)
        np.testing.assert_array_equal(face.aligned.box, np.float32([40, 30, 136, 126]))


class HoldingRestorer(RecordingRestorer):
    """Hands results back only when waited for, one submission per wait, like a busy GPU."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list = []

    def submit(self, crops, tag=None):
        super().submit(crops, tag)
        self.held += super().flush()

    def collect(self, wait=False):
        return [self.held.pop(0)] if wait and self.held else []

    def flush(self):
        out, self.held = self.held, []
        return out


def test_a_stopped_stream_flushes_the_restorer() -> None:
    """Closing the stream early drops the restorer's queued work, so the next stream starts clean."""
    restorer = HoldingRestorer()
    eng = engine(restorer)
    stream = eng.stream(frames(40))  # more frames than all the queues between the stages hold
    next(stream)
    stream.close()
    assert restorer.held == []  # nothing stale left for the next stream
    assert [r.frame.index for r in eng.stream(frames(3))] == [0, 1, 2]


def test_the_paste_stage_uses_faces_only_through_the_compositor() -> None:
    tree = ast.parse(inspect.getsource(engine_module))
    from_faces = {node.module.split(".")[1]: [alias.asname or alias.name for alias in node.names]
                  for node in tree.body if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("faces.")}
    assert "compose" in from_faces
    assert not {"temporal", "gate", "monochrome", "detail", "paste"} & set(from_faces)  # per-track state lives there
    # What is pasted comes from the compositor; the redactor hides faces in the pasted frame afterwards.
    other_faces_names = {name for module, names in from_faces.items() if module not in ("compose", "redact")
                         for name in names}
    paste_stage = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "_paste")
    used = {node.id for node in ast.walk(paste_stage) if isinstance(node, ast.Name)}
    assert not used & other_faces_names and "FaceCompositor" in used


class CountingCompositor(FaceCompositor):
    """Counts the frames composed, and records the strength each was composed with."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.strengths: list[float] = []

    def compose(self, *args):
        self.strengths.append(self.strength)
        return super().compose(*args)


@pytest.mark.parametrize("frame_path", ["host", "device"])
def test_both_frame_paths_paste_what_the_given_compositor_composed(frame_path) -> None:
    settings = Settings()
    settings.restore.frame_path = frame_path
    settings.faces.confirm_frames, settings.faces.fade_frames = 1, 0
    e = Engine(settings, restorer=RecordingRestorer(invert=True), detector=FixedDetector())
    compositor = CountingCompositor(settings.faces)
    compositor.set_strength(0.3)
    results = list(e.stream(frames(4), compositor=compositor))
    assert e.frame_path.name == frame_path and compositor.strengths == [0.3] * 4
    centre = (78, 88)
    assert all(abs(int(r.enhanced[centre][0]) + int(r.frame.image[centre][0]) - 255) <= 3 for r in results)


def slow_frames(count: int, seconds: float):
    """``frames(count)`` arriving ``seconds`` apart: the restorer idles between them."""
    for frame in frames(count):
        time.sleep(seconds)
        yield frame


def test_fixed_batches_are_cut_by_faces_not_by_timing() -> None:
    """Frames that trickle in would get early batches from an idle restorer, as the threads' timing falls; with
    ``fixed_batches`` every batch is full but the last, whatever the timing (the same pixels on every run)."""
    fixed = RecordingRestorer()
    results = list(engine(fixed).stream(slow_frames(10, 0.03), fixed_batches=True))
    assert fixed.batches == [4, 4, 2]
    assert [result.frame.index for result in results] == list(range(10))
