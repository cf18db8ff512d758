"""``upscale`` end to end: exact sizes with timing and audio kept, faces carried at output resolution
(an oracle restorer), large faces keeping the source's detail, compare view, pictures, batch, errors."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from gpen_video.batch import BatchOptions, UnitTask, run_unit
from gpen_video.batch.join import finish_input
from gpen_video.batch.plan import plan_input
from gpen_video.cli import main
from gpen_video.config import build_settings
from gpen_video.engine import Engine
from gpen_video.errors import InputError
from gpen_video.faces.align import align_face, scale_affine
from gpen_video.faces.detect import build_detector
from gpen_video.faces.paste import soft_mask
from gpen_video.job import enhance_image, enhance_video
from gpen_video.review.metrics import psnr
from gpen_video.restore import PassthroughRestorer
from gpen_video.types import Frame
from gpen_video.upscale.lanczos import lanczos_upscale
from tests.helpers.clips import make_clip
from tests.helpers.fakes import FixedDetector
from tests.helpers.paths import DATA
from tests.helpers.real_media import cut_clip, solvay, video_frames
from tests.helpers.streams import audio_packets, video_pts

HEAD = Path(DATA) / "talking_head_844.mp4"


def _settings(scale: int, **faces):
    return build_settings(None, {"restore": {"restorer": "none"}, "faces": {"temporal": 0.0, **faces},
                                 "upscale": {"scale": scale}, "encode": {"preset": "ultrafast"}})


def _head(index: int, width: int, height: int) -> np.ndarray:
    return cv2.resize(video_frames("talking_head_844.mp4", 12)[index], (width, height), interpolation=cv2.INTER_AREA)


def test_output_is_exactly_n_times_with_frames_pts_audio_and_metadata_kept(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "odd.mp4", size=(65, 49), frames=12, pix_fmt="yuv444p", image=_head,
                       metadata={"title": "kept"})  # 0.48 s of video holds all 0.45 s of audio
    coded = {1: (66, 50), 2: (130, 98), 3: (196, 148), 4: (260, 196)}  # yuv420p pads odd sides by one
    for scale, size in coded.items():
        settings = _settings(scale)
        engine = Engine(settings, restorer=PassthroughRestorer(size=64), detector=FixedDetector(side=30, x=15, y=8))
        output = tmp_path / f"x{scale}.mp4"
        heard = []
        result = enhance_video(source, output, settings, engine=engine, progress=heard.append)
        with av.open(str(output)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height) == size
            assert container.metadata.get("title") == "kept"
        assert result.stats.frames == 12 and video_pts(output) == video_pts(source)
        assert audio_packets(output) == audio_packets(source)
        assert ("upscale" in result.stats.stage_seconds) == (scale > 1)  # the report's and summary's stage times
        assert ("upscale" in heard[-1].stage_seconds) == (scale > 1)  # the progress bar's breakdown


class OracleRestorer(PassthroughRestorer):
    """Returns, for each crop it is given, the matching crop of the full-resolution original: ground truth."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], size: int) -> None:
        super().__init__(size=size)
        self.pairs = pairs  # (input crop, full-resolution crop)

    def submit(self, crops, tag=None):
        answers = []
        for crop in crops:
            errors = [np.abs(crop.astype(np.int16) - seen).mean() for seen, _ in self.pairs]
            assert min(errors) < 0.5  # the engine aligned exactly where the test did
            answers.append(self.pairs[int(np.argmin(errors))][1])
        super().submit(np.stack(answers), tag)


def test_faces_are_warped_straight_into_the_enlarged_frame(capsys) -> None:
    originals = [_head(i, 256, 256) for i in range(3)]  # real face frames, full resolution
    inputs = [cv2.resize(o, (128, 128), interpolation=cv2.INTER_AREA) for o in originals]
    settings = _settings(2, smooth=0.0)
    detector = build_detector(settings.faces)
    size, pairs, affines = 256, [], []
    for image, original, found in zip(inputs, originals, detector.detect(inputs)):
        crop, affine = align_face(image, found[0].landmarks, size)
        truth = cv2.warpAffine(original, scale_affine(affine, 2), (size, size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT_101)
        pairs.append((crop, truth))
        affines.append(affine)
    frames = [Frame(i, i, Fraction(1, 25), image) for i, image in enumerate(inputs)]
    scores = {}
    for scale in (2, 1):
        engine = Engine(_settings(scale, smooth=0.0), restorer=OracleRestorer(pairs, size), detector=detector)
        results = list(engine.stream(frames))
        assert all(len(r.faces) == 1 for r in results)
        outputs = [lanczos_upscale(r.enhanced, 2 // scale) for r in results]  # scale 1: pasted, then enlarged
        values = []
        for output, original, affine in zip(outputs, originals, affines):
            weight = cv2.warpAffine(soft_mask(size), scale_affine(affine, 2), (256, 256),
                                    flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
            inside = weight > 0.999  # the face, where only the restored crop is pasted
            values.append(psnr(output[inside], original[inside]))
        scores[scale] = float(np.mean(values))
    with capsys.disabled():
        print(f"\nface PSNR vs the full-resolution original: upscale 2 {scores[2]:.2f} dB, "
              f"pasted at input size then enlarged {scores[1]:.2f} dB")
    assert scores[2] >= 35.0
    assert scores[1] <= scores[2] - 3.0


def _whole_frame_psnr(output: Path, originals: tuple[np.ndarray, ...]) -> float:
    with av.open(str(output)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == len(originals)
    return float(np.mean([psnr(a, b) for a, b in zip(decoded, originals)]))


def test_large_faces_keep_the_detail_the_crop_cannot_hold(tmp_path: Path, capsys) -> None:
    # 844 px talking head: the eyes are ~128 px apart, more than the 512 crop's 107, so the crop is smaller.
    originals = video_frames("talking_head_844.mp4", 2)  # the frames before 0.07 s
    scores = {}
    for name, faces in {"faces": {}, "no faces": {"min_face": 100000}}.items():
        settings = build_settings(None, {"restore": {"restorer": "none"}, "faces": {"temporal": 0.0, **faces},
                                         "encode": {"crf": 0}})
        output = tmp_path / f"{name}.mp4"
        result = enhance_video(HEAD, output, settings, end=0.07)
        assert result.stats.faces == (0 if faces else 2)
        scores[name] = _whole_frame_psnr(output, originals)
    # Without the encoder: the transfer is what brings the face back exactly.
    frames = [Frame(i, i, Fraction(1, 25), image) for i, image in enumerate(originals[:1])]
    for transfer in (True, False):
        settings = build_settings(None, {"restore": {"restorer": "none"},
                                         "faces": {"temporal": 0.0, "detail_transfer": transfer}})
        results = list(Engine(settings).stream(frames))
        assert all(r.faces for r in results)
        scores[f"pipeline, transfer {'on' if transfer else 'off'}"] = float(np.mean(
            [min(psnr(r.enhanced, image), 100.0) for r, image in zip(results, originals)]))
    with capsys.disabled():
        print("\nwhole-frame PSNR vs the input: " + ", ".join(f"{k} {v:.2f} dB" for k, v in scores.items()))
    assert scores["faces"] >= scores["no faces"] - 1.0
    assert scores["pipeline, transfer on"] >= 60.0  # a pass-through round trip is (nearly) lossless
    assert scores["pipeline, transfer off"] <= scores["pipeline, transfer on"] - 10.0


def test_pictures_and_compare_show_the_original_enlarged_beside(tmp_path: Path) -> None:
    picture = tmp_path / "in.png"
    image = solvay()[100:201, 200:331]  # odd 131 x 101
    cv2.imwrite(str(picture), image[..., ::-1])
    settings = _settings(2)
    engine = Engine(settings, restorer=PassthroughRestorer(size=64), detector=FixedDetector(side=40, x=30, y=20))
    enhance_image(picture, tmp_path / "out.png", settings, engine=engine, compare=True)
    out = cv2.imread(str(tmp_path / "out.png"))[..., ::-1]
    assert out.shape == (202, 524, 3)
    assert np.array_equal(out[:, :262], lanczos_upscale(image, 2))
    assert psnr(out[:, 262:], out[:, :262]) > 30  # the pass-through face lands where it was


def test_missing_upsampler_weights_offline_exit_3_with_the_exact_path(tmp_path: Path, monkeypatch, capsys) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=2, audio=())
    monkeypatch.setenv("GPEN_VIDEO_HOME", str(tmp_path / "home"))
    for proxy in ("https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    code = main([str(source), str(tmp_path / "out.mp4"), "--restorer", "none", "--upscale", "2",
                 "--bg-upsampler", "realesrgan-x4", "-q"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 3 and len(lines) == 1
    assert str(tmp_path / "home" / "RealESRGAN_x4plus.pth") in lines[0] and "--bg-weights" in lines[0]
    assert not (tmp_path / "out.mp4").exists()
    assert main([str(source), str(tmp_path / "out.mp4"), "--upscale", "5", "-q"]) == 2
    assert "upscale must be 1 to 4" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["film", "surveillance"])
def test_film_and_surveillance_presets_upscale_twice(preset: str) -> None:
    assert build_settings(preset).upscale.scale == 2


def test_a_network_without_upscaling_is_a_usage_error() -> None:
    with pytest.raises(InputError, match="needs upscale 2 or more"):
        build_settings(None, {"upscale": {"bg_upsampler": "realesrgan-x2"}})


def test_batch_segments_join_at_the_enlarged_size(tmp_path: Path) -> None:
    """The batch's segment worker and join, in this process (the executor only moves these calls around)."""
    clip = cut_clip(HEAD, tmp_path / "clip.mp4", seconds=0.6, width=64, gop=5)
    settings = build_settings(None, {"restore": {"restorer": "none"}, "upscale": {"scale": 2},
                                     "faces": {"det_size": 64}, "encode": {"preset": "ultrafast"}})
    output, work = tmp_path / "out.mp4", tmp_path / "work"
    record = plan_input(clip, output, settings, BatchOptions(out_dir=tmp_path, segment_seconds=0.2, warmup=2))
    assert len(record.units) >= 2 and all(unit.kind == "segment" for unit in record.units)
    for unit in record.units:
        (work / unit.part).parent.mkdir(parents=True, exist_ok=True)
        run_unit(UnitTask(unit, str(clip), str(work / unit.part), settings))
    finish_input(record, work, overwrite=False)
    assert record.state == "done", record.error
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (128, 128)
    assert video_pts(output) == video_pts(clip)
    assert audio_packets(output) == audio_packets(clip)
