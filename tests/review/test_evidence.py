"""review.evidence through a whole run on the real clips: outside the mask the lossless output is the decoded
input bit for bit (host and device frame paths, temporal blending on); the mask is the paste weight, frame for
frame and timestamp for timestamp; the marked copy differs only along the mask's 50 % contour; a failed run
leaves none of the files."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from gpen_video.config import Settings
from gpen_video.engine import Engine
from gpen_video.errors import InputError
from gpen_video.faces.detect import build_detector
from gpen_video.job import enhance_video
from gpen_video.media.reader import VideoReader
from gpen_video.media.settings import EncodeSettings
from gpen_video.review.evidence import EvidenceFiles
from gpen_video.review.mark import HALF
from tests.helpers.fakes import RecordingRestorer, SharpenRestorer
from tests.helpers.paths import DATA
from tests.helpers.streams import temp_files

END = 0.16  # seconds: the first 4 frames of each clip
EDGE = 4  # pixels beside the mask whose colour shares a chroma sample with a changed pixel (4:2:0)


@pytest.fixture(scope="module")
def detector():
    return build_detector(Settings().faces)


def settings_for(frame_path: str, encode: EncodeSettings) -> Settings:
    """Every face pasted from its first frame, temporal blending on, the given frame path and encoder."""
    settings = Settings()
    settings.restore = replace(settings.restore, frame_path=frame_path)
    settings.faces = replace(settings.faces, confirm_frames=1, fade_frames=0, temporal=0.85)
    settings.encode = encode
    return settings


def decoded(path: Path) -> list[tuple[Fraction, np.ndarray]]:
    """(time, planes as decoded: yuv420p [3 H / 2, W] or gray [H, W]) of every frame of ``path``."""
    with av.open(str(path)) as container:
        return [(frame.pts * frame.time_base, frame.to_ndarray()) for frame in container.decode(video=0)]


def luma_and_chroma(planes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(Y [H, W], U and V stacked [2, H / 2, W / 2]) of yuv420p planes."""
    chroma = planes.reshape(-1)[height * width:].reshape(2, height // 2, width // 2)
    return planes[:height], chroma


def run(tmp_path: Path, clip: str, detector, frame_path: str = "host", encode=EncodeSettings(codec="ffv1"),
        restorer=None, **files) -> tuple[Path, EvidenceFiles]:
    settings = settings_for(frame_path, encode)
    out = tmp_path / "out.mkv"
    evidence = EvidenceFiles(**files)
    engine = Engine(settings, restorer=restorer or SharpenRestorer(size=256), detector=detector)
    enhance_video(DATA / clip, out, settings, engine=engine, end=END, evidence=evidence)
    return out, evidence


@pytest.mark.parametrize(("clip", "frame_path", "encode"), [
    ("crowd_1080p.mp4", "host", EncodeSettings(codec="ffv1")),
    ("talking_head_844.mp4", "host", EncodeSettings(codec="ffv1")),
    ("crowd_1080p.mp4", "device", EncodeSettings(codec="ffv1")),
    ("talking_head_844.mp4", "device", EncodeSettings(codec="libx264", crf=0, preset="ultrafast")),
])
def test_outside_the_mask_the_output_is_the_decoded_input_bit_for_bit(tmp_path, detector, clip, frame_path, encode):
    out, evidence = run(tmp_path, clip, detector, frame_path, encode, mask=tmp_path / "mask.mkv")
    source, output, mask = decoded(DATA / clip)[:4], decoded(out), decoded(Path(evidence.mask))
    assert len(output) == len(mask) == len(source) == 4
    assert [time for time, _ in mask] == [time for time, _ in output]
    changed_inside = []
    for (_, want), (_, got), (_, weight) in zip(source, output, mask):
        height, width = weight.shape
        near = cv2.dilate(weight, np.ones((2 * EDGE + 1, 2 * EDGE + 1), np.uint8)) > 0
        (want_y, want_c), (got_y, got_c) = luma_and_chroma(want, height, width), luma_and_chroma(got, height, width)
        assert np.array_equal(got_y[~near], want_y[~near])
        far = ~near[::2, ::2]
        assert np.array_equal(got_c[:, far], want_c[:, far])
        inside = weight >= HALF
        assert inside.sum() > 1000  # faces were found and pasted
        changed_inside.append(np.mean(got_y[inside] != want_y[inside]))
    assert min(changed_inside) > 0.3  # the restorer's sharpening shows where the faces are


def test_the_mask_is_the_weight_the_faces_were_pasted_with(tmp_path, detector):
    clip = "talking_head_844.mp4"
    _, evidence = run(tmp_path, clip, detector, mask=tmp_path / "mask.mkv")
    settings = settings_for("host", EncodeSettings(codec="ffv1"))
    engine = Engine(settings, restorer=SharpenRestorer(size=256), detector=detector)
    with VideoReader(DATA / clip, end=END) as reader:
        weights = [result.weight for result in engine.stream(reader, weights=True)]
    mask = [planes for _, planes in decoded(Path(evidence.mask))]
    assert len(mask) == len(weights) == 4
    for got, want in zip(mask, weights):
        assert np.array_equal(got, want)
        assert got.max() == 255 and 0 < np.mean(got > 0) < 0.5  # soft edges, most of the frame untouched


def test_the_marked_copy_differs_from_the_output_only_along_the_half_contour(tmp_path, detector):
    out, evidence = run(tmp_path, "crowd_1080p.mp4", detector, mask=tmp_path / "mask.mkv",
                        marked=tmp_path / "marked.mkv")
    output, marked, mask = decoded(out), decoded(Path(evidence.marked)), decoded(Path(evidence.mask))
    assert len(marked) == len(output) == 4
    assert [time for time, _ in marked] == [time for time, _ in output]
    for (_, plain), (_, drawn), (_, weight) in zip(output, marked, mask):
        height, width = weight.shape
        inside = (weight >= HALF).astype(np.uint8)
        edge = inside - cv2.erode(inside, np.ones((3, 3), np.uint8))
        distance = cv2.distanceTransform((edge == 0).astype(np.uint8), cv2.DIST_L2, 3)
        differs = plain[:height] != drawn[:height]
        assert differs[edge > 0].mean() > 0.5  # the outline runs along the contour
        assert distance[differs].max() < 48  # and nothing is drawn away from it but the labels just above


def test_a_failed_run_leaves_no_output_mask_or_marked_copy(tmp_path, detector):
    with pytest.raises(RuntimeError, match="exploded"):
        run(tmp_path, "talking_head_844.mp4", detector, restorer=RecordingRestorer(size=256, fail_after=0),
            mask=tmp_path / "mask.mkv", marked=tmp_path / "marked.mkv")
    assert sorted(p.name for p in tmp_path.iterdir()) == [] and temp_files(tmp_path) == []


@pytest.mark.parametrize("change", [{"compare": True}, {"redact": True}])
def test_evidence_is_refused_where_it_would_not_describe_the_output(tmp_path, change):
    settings = settings_for("host", EncodeSettings(codec="ffv1"))
    if change.pop("redact", False):
        settings.redact = replace(settings.redact, mode="all")
    with pytest.raises(InputError):
        enhance_video(DATA / "talking_head_844.mp4", tmp_path / "out.mkv", settings,
                      evidence=EvidenceFiles(mark_output=True), **change)
    assert list(tmp_path.iterdir()) == []


def test_with_upscaling_the_mask_is_at_the_output_size(tmp_path, detector):
    settings = settings_for("host", EncodeSettings(codec="ffv1"))
    settings.upscale = replace(settings.upscale, scale=2)
    engine = Engine(settings, restorer=SharpenRestorer(size=256), detector=detector)
    out, mask = tmp_path / "out.mkv", tmp_path / "mask.mkv"
    enhance_video(DATA / "talking_head_844.mp4", out, settings, engine=engine, end=0.08, evidence=EvidenceFiles(mask))
    weights = decoded(mask)
    assert len(weights) == len(decoded(out)) == 2
    assert all(planes.shape == (1688, 1688) and planes.max() == 255 for _, planes in weights)
