"""VideoWriter: pass-through fidelity (frames, pts, audio bytes, offsets) and safe output."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from fractions import Fraction

import av
import numpy as np
import pytest

from gpen_video.errors import DestinationExists, GpenVideoError, InputError
from gpen_video.media.encoders import encoder_options, resolve_codec
from gpen_video.media.settings import EncodeSettings
from gpen_video.media.reader import VideoReader
from gpen_video.media.streams import monotonic_dts
from gpen_video.media.writer import VideoWriter
from gpen_video.review.metrics import psnr
from gpen_video.types import Frame
from tests.helpers.clips import AudioSpec, make_clip
from tests.helpers.paths import ROOT
from tests.helpers.streams import frame_times, packets, stream_starts, temp_files

FAST = EncodeSettings(preset="ultrafast")


def passthrough(src, dest, *, start=None, end=None, settings=FAST, before_publish=None, **kwargs):
    """Reader -> writer with no processing; returns (reader, writer stats)."""
    with VideoReader(src, start=start, end=end) as reader:
        info = reader.info
        with VideoWriter(
            dest, width=info.width, height=info.height, time_base=info.time_base, fps=info.fps,
            source=src, start=start, settings=settings,
            sample_aspect_ratio=info.sample_aspect_ratio, **kwargs,
        ) as writer:
            for frame in reader:
                writer.write(frame)
            writer.close(before_publish)
    return reader, writer.stats


def test_real_file_passthrough_is_faithful(data_dir, tmp_path):
    src, dest = data_dir / "crowd_1080p.mp4", tmp_path / "out.mp4"
    reader, stats = passthrough(src, dest)
    src_times = frame_times(src)
    out_times = frame_times(dest)
    assert stats.frames == reader.stats.frames == len(src_times) == len(out_times) == 60
    assert out_times == src_times
    assert packets(dest, "audio") == packets(src, "audio")  # byte-identical, same pts
    starts_in, starts_out = stream_starts(src), stream_starts(dest)
    assert starts_out["audio"][0] - starts_out["video"][0] == pytest.approx(
        starts_in["audio"][0] - starts_in["video"][0], abs=0.04
    )
    with av.open(str(dest)) as out:
        assert out.streams.audio[0].metadata.get("language") == "und"
    assert temp_files(tmp_path) == []


def test_two_audio_tracks_copied_byte_identical_with_languages(tmp_path):
    src = make_clip(tmp_path / "two.mp4", audio=(AudioSpec(language="eng"), AudioSpec(language="fra", rate=44100, tone=660)),
                    metadata={"title": "two tracks", "creation_time": "2024-05-01T10:00:00.000000Z"})
    dest = tmp_path / "out.mp4"
    _, stats = passthrough(src, dest)
    assert packets(dest, "audio") == packets(src, "audio")
    with av.open(str(dest)) as out:
        assert [s.metadata.get("language") for s in out.streams.audio] == ["eng", "fra"]
        assert out.metadata.get("title") == "two tracks"
        assert out.metadata.get("creation_time", "").startswith("2024-05-01T10:00:00")
    assert stats.reencoded_streams == []


def test_no_audio_and_vfr(tmp_path):
    pts = [0, 512, 1024, 2560, 2600, 4096, 9000, 9100]
    src = make_clip(tmp_path / "vfr.mp4", pts=pts, audio=())
    dest = tmp_path / "out.mp4"
    _, stats = passthrough(src, dest)
    out_times = frame_times(dest)
    assert out_times == [Fraction(p, 12800) for p in pts]
    with av.open(str(dest)) as out:
        assert not out.streams.audio
    assert stats.frames == len(pts)


def test_audio_longer_than_video_is_trimmed_at_the_last_frame(tmp_path):
    src = make_clip(tmp_path / "long.mp4", frames=12, audio=(AudioSpec(seconds=2.0),))  # video 0.48 s
    dest = tmp_path / "out.mp4"
    passthrough(src, dest)
    audio_in, audio_out = packets(src, "audio")[0], packets(dest, "audio")[0]
    video_end = 12 / 25
    assert len(audio_out) < len(audio_in)
    assert audio_out == audio_in[: len(audio_out)]  # a byte-identical prefix
    assert (audio_out[-1][0]) / 48000 < video_end <= (audio_out[-1][0] + 1024) / 48000 + 1e-9


def test_nonzero_start_offsets_are_kept(tmp_path):
    src = make_clip(tmp_path / "late.mp4", video_start=0.5, frames=10, audio=(AudioSpec(seconds=1.0),))
    dest = tmp_path / "out.mp4"
    passthrough(src, dest)
    starts_in, starts_out = stream_starts(src), stream_starts(dest)
    assert starts_in["video"][0] == pytest.approx(0.5)
    assert starts_out["video"][0] - starts_out["audio"][0] == pytest.approx(
        starts_in["video"][0] - starts_in["audio"][0], abs=0.04
    )
    assert frame_times(dest) == frame_times(src)


def test_mpegts_start_time_is_shifted_to_zero_keeping_offsets(tmp_path):
    src = make_clip(tmp_path / "in.ts", frames=10, video_start=1.0, audio=(AudioSpec(seconds=0.4, start=1.0),))
    dest = tmp_path / "out.mkv"
    passthrough(src, dest)
    starts_in, starts_out = stream_starts(src), stream_starts(dest)
    assert min(starts_in["video"][0], starts_in["audio"][0]) > 0.9
    assert min(starts_out["video"][0], starts_out["audio"][0]) == pytest.approx(0, abs=0.002)
    assert starts_out["audio"][0] - starts_out["video"][0] == pytest.approx(
        starts_in["audio"][0] - starts_in["video"][0], abs=0.04
    )
    # Same AAC frames; only the 7-byte ADTS headers that MPEG-TS needs are gone (FFmpeg's aac_adtstoasc).
    assert [p for _, p in packets(dest, "audio")[0]] == [p[7:] for _, p in packets(src, "audio")[0]]


def test_odd_size_is_padded_by_edge_replication(tmp_path):
    src = make_clip(tmp_path / "odd.mkv", size=(63, 47), codec="libx264rgb", pix_fmt="rgb24", audio=())
    dest = tmp_path / "out.mp4"
    _, stats = passthrough(src, dest)
    assert stats.padded_to == (64, 48) and stats.frames == 12
    with av.open(str(dest)) as out:
        image = next(out.decode(video=0)).to_ndarray(format="rgb24")
    assert image.shape == (48, 64, 3)
    assert np.abs(image[:, -1].astype(int) - image[:, -2].astype(int)).mean() < 6


def test_rotated_input_is_written_upright_without_tag(tmp_path):
    src = make_clip(tmp_path / "rot.mp4", size=(64, 48), rotation=-90, audio=())
    dest = tmp_path / "out.mp4"
    passthrough(src, dest)
    with av.open(str(dest)) as out:
        frame = next(out.decode(video=0))
    assert (frame.width, frame.height, frame.rotation) == (48, 64, 0)
    assert frame.to_ndarray(format="rgb24")[2, -3].tolist() == pytest.approx([255, 0, 0], abs=16)


def test_sample_aspect_ratio_is_carried(tmp_path):
    src = make_clip(tmp_path / "anamorphic.mkv", audio=())
    dest = tmp_path / "out.mp4"
    with VideoReader(src) as reader:
        with VideoWriter(dest, width=64, height=48, time_base=reader.info.time_base, fps=reader.info.fps,
                         settings=FAST, sample_aspect_ratio=Fraction(2, 1)) as writer:
            for frame in reader:
                writer.write(frame)
    with VideoReader(dest) as back:
        assert back.info.sample_aspect_ratio == Fraction(2, 1)


def test_webm_reencodes_aac_to_opus_with_notice(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=6, audio=(AudioSpec(seconds=0.24),))
    dest = tmp_path / "out.webm"
    _, stats = passthrough(src, dest, settings=EncodeSettings(codec="libvpx-vp9", preset="ultrafast", crf=40))
    assert stats.reencoded_streams and any("opus" in n for n in stats.notices)
    with av.open(str(dest)) as out:
        assert out.streams.audio[0].codec_context.name == "opus"
        assert out.streams.video[0].frames in (0, 6)  # webm does not always record a count
        assert sum(1 for _ in out.decode(video=0)) == 6


def test_mkv_output_copies_mp4_audio(tmp_path):
    src = make_clip(tmp_path / "in.mp4", audio=(AudioSpec(),))
    dest = tmp_path / "out.mkv"
    _, stats = passthrough(src, dest)
    assert [b for _, b in packets(dest, "audio")[0]] == [b for _, b in packets(src, "audio")[0]]
    assert stats.reencoded_streams == []


def test_trim_shifts_video_and_audio_together(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=25, audio=(AudioSpec(seconds=1.0),))
    dest = tmp_path / "out.mp4"
    _, stats = passthrough(src, dest, start=0.2, end=0.6)
    times = frame_times(dest)
    first = times[0]
    assert stats.frames == len(times) == 10 and first == 0
    audio = packets(dest, "audio")[0]
    audio_src = {b for _, b in packets(src, "audio")[0]}
    assert all(b in audio_src for _, b in audio)  # still copied, not re-encoded
    starts = stream_starts(dest)
    assert 0 <= starts["audio"][0] < 0.04
    assert audio[-1][0] / 48000 < 0.4


@pytest.mark.parametrize(("codec", "ext"), [("libx265", "mp4"), ("libsvtav1", "mkv")])
def test_other_encoders(tmp_path, codec, ext):
    src = make_clip(tmp_path / "in.mp4", size=(64, 64), frames=5, audio=())
    dest = tmp_path / f"out.{ext}"
    _, stats = passthrough(src, dest, settings=EncodeSettings(codec=codec, preset="ultrafast", crf=30))
    with av.open(str(dest)) as out:
        assert out.streams.video[0].codec_context.name in {"hevc", "av1", "libdav1d", "libaom-av1"}
        assert sum(1 for _ in out.decode(video=0)) == 5


ENCODE_IN_A_CHILD = textwrap.dedent(
    """
    import sys
    from fractions import Fraction
    import numpy as np
    from gpen_video.media.settings import EncodeSettings
    from gpen_video.media.writer import VideoWriter
    from gpen_video.types import Frame
    with VideoWriter(sys.argv[1], width=64, height=64, time_base=Fraction(1, 25), fps=Fraction(25),
                     settings=EncodeSettings(codec=sys.argv[2], preset="ultrafast", crf=30)) as writer:
        for i in range(5):
            writer.write(Frame(i, i, Fraction(1, 25), np.full((64, 64, 3), 40 * i, np.uint8)))
    """
)


@pytest.mark.parametrize(("codec", "ext"), [("libx265", "mp4"), ("libsvtav1", "mkv")])
def test_encoders_print_nothing_of_their_own(tmp_path, codec, ext):
    # x265 and SVT-AV1 print their banners from their own C code, straight to stderr: past any Python logging.
    if resolve_codec(codec)[0] != codec:
        pytest.skip(f"{codec} is not in this FFmpeg build")
    dest = tmp_path / f"out.{ext}"
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    child = subprocess.run([sys.executable, "-c", ENCODE_IN_A_CHILD, str(dest), codec], capture_output=True,
                           text=True, env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=120)
    assert child.returncode == 0 and dest.exists(), child.stderr
    assert child.stderr == ""


def test_nvenc_falls_back_with_notice():
    name, notice = resolve_codec("h264_nvenc")
    if name == "h264_nvenc":
        pytest.skip("NVENC works here")
    assert name == "libx264" and "h264_nvenc" in notice
    with pytest.raises(InputError):
        resolve_codec("mpeg2video")


def test_monotonic_dts_fix_or_drop():
    assert monotonic_dts(None, 10, 10) == (10, 10)
    assert monotonic_dts(10, 20, 10) == (20, 11)  # fixed
    assert monotonic_dts(10, 9, 9) is None  # cannot be fixed: dropped
    assert monotonic_dts(10, 30, None) == (30, 30)
    assert monotonic_dts(None, None, None) is None


# ------------------------------------------------------------------ safe output
def _frames(n=3, size=(32, 32)):
    return [Frame(index=i, pts=i, time_base=Fraction(1, 25), image=np.full((size[1], size[0], 3), 40 * i, np.uint8)) for i in range(n)]


def _writer(dest, **kwargs):
    return VideoWriter(dest, width=32, height=32, time_base=Fraction(1, 25), fps=Fraction(25), settings=FAST, **kwargs)


def test_refuses_input_as_output_and_existing_output(tmp_path):
    src = make_clip(tmp_path / "in.mp4", audio=())
    with pytest.raises(InputError, match="input"):
        _writer(src, source=src, overwrite=True)
    existing = tmp_path / "old.mp4"
    existing.write_bytes(b"keep me")
    with pytest.raises(DestinationExists):
        _writer(existing)
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(InputError):
        _writer(tmp_path / "missing" / "out.mp4")
    with pytest.raises(InputError):
        _writer(tmp_path / "out.notacontainer")
    assert temp_files(tmp_path) == []


def test_error_mid_way_leaves_destination_untouched(tmp_path):
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        with _writer(dest, overwrite=True) as writer:
            for frame in _frames():
                writer.write(frame)
            raise RuntimeError("boom")
    assert dest.read_bytes() == b"previous result"
    assert temp_files(tmp_path) == []
    with _writer(dest, overwrite=True) as writer:
        for frame in _frames():
            writer.write(frame)
    assert len(frame_times(dest)) == 3 and temp_files(tmp_path) == []


def test_zero_frames_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(GpenVideoError):
        with _writer(tmp_path / "out.mp4"):
            pass
    assert list(tmp_path.iterdir()) == []


CHILD = textwrap.dedent(
    """
    import sys, time
    from fractions import Fraction
    import numpy as np
    from gpen_video.errors import Interrupted
    from gpen_video.media.settings import EncodeSettings
    from gpen_video.media.signals import interrupts_as_exceptions
    from gpen_video.media.writer import VideoWriter
    from gpen_video.types import Frame
    try:
        with interrupts_as_exceptions():
            with VideoWriter(sys.argv[1], width=32, height=32, time_base=Fraction(1, 25), fps=Fraction(25),
                             settings=EncodeSettings(preset="ultrafast")) as writer:
                for i in range(100000):
                    writer.write(Frame(i, i, Fraction(1, 25), np.full((32, 32, 3), i % 255, np.uint8)))
                    if i == 30:
                        print("writing", flush=True)
                    time.sleep(0.002)
    except Interrupted:
        sys.exit(130)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_removes_temp_file(tmp_path, sig):
    dest = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(dest)], stdout=subprocess.PIPE, env=env, cwd=ROOT)
    assert child.stdout.readline().strip() == b"writing"
    assert temp_files(tmp_path), "the writer should be writing a temporary file"
    child.send_signal(sig)
    assert child.wait(timeout=30) == 130
    assert list(tmp_path.iterdir()) == []


def test_a_preset_foreign_to_x264_falls_back_to_medium_with_a_notice() -> None:
    options, _, notices = encoder_options("libx264", EncodeSettings(preset="p5"))  # NVENC's name, after a fallback
    assert options["preset"] == "medium"
    assert notices == ["preset 'p5' is not a libx264 preset; using 'medium'"]
    options, _, notices = encoder_options("libx264", EncodeSettings(preset="slow"))
    assert options["preset"] == "slow" and notices == []


def test_yuv420p_planes_are_encoded_as_given_with_the_same_timing_and_audio(data_dir, tmp_path):
    import torch

    from gpen_video.gpu.colour import rgb_to_i420

    src = data_dir / "talking_head_844.mp4"
    written = {}
    for kind in ("rgb", "planes"):
        with VideoReader(src, end=0.2) as reader:
            info = reader.info
            with VideoWriter(tmp_path / f"{kind}.mp4", width=info.width, height=info.height, time_base=info.time_base,
                             fps=info.fps, source=src, settings=FAST) as writer:
                for frame in reader:
                    planes = rgb_to_i420(torch.from_numpy(frame.image)).numpy() if kind == "planes" else None
                    writer.write(frame, planes)
                with pytest.raises(ValueError, match="yuv420p planes"):
                    writer.write(frame, np.zeros((info.height, info.width), np.uint8))
        written[kind] = writer.stats
    assert written["planes"].frames == written["rgb"].frames > 0
    assert written["planes"].audio_packets == written["rgb"].audio_packets > 0
    assert frame_times(tmp_path / "planes.mp4") == frame_times(tmp_path / "rgb.mp4")
    with av.open(str(tmp_path / "rgb.mp4")) as a, av.open(str(tmp_path / "planes.mp4")) as b:
        for x, y in zip(a.decode(video=0), b.decode(video=0)):
            # torch's conversion is within 1-2 levels of swscale's, under the encoder's own loss
            assert psnr(x.to_ndarray(format="rgb24"), y.to_ndarray(format="rgb24")) > 40


class _PlanesHeard:
    """An ``EncodeListener`` that keeps every frame's planes."""

    def __init__(self) -> None:
        self.frames: list[list[np.ndarray]] = []

    def encoded(self, planes) -> None:
        self.frames.append([plane.copy() for plane in planes])


def test_a_listener_hears_the_planes_a_lossless_decode_gives_back(tmp_path):
    """x264 at crf 0 keeps its planes: what the listener heard is what a decoder gives, plane for plane
    (the rows' padding bytes left out: ``visible_planes``)."""
    from gpen_video.media.planes import visible_planes

    src = make_clip(tmp_path / "in.mp4", size=(70, 48), frames=5, audio=())
    heard = _PlanesHeard()
    passthrough(src, tmp_path / "out.mp4", settings=EncodeSettings(preset="ultrafast", crf=0), listener=heard)
    assert [[plane.shape for plane in frame] for frame in heard.frames] == [[(48, 70), (24, 35), (24, 35)]] * 5
    with av.open(str(tmp_path / "out.mp4")) as container:
        decoded = [visible_planes(frame) for frame in container.decode(video=0)]
    assert len(decoded) == 5
    for given, back in zip(heard.frames, decoded):
        assert all(np.array_equal(a, b) for a, b in zip(given, back))


def test_fixed_threads_give_the_same_file_and_before_publish_sees_it_first(tmp_path):
    """With the encoder's threads fixed the same frames give the same bytes; ``before_publish`` gets the finished
    temporary file, and when it fails nothing is published."""
    src = make_clip(tmp_path / "in.mp4", size=(96, 64), frames=12)
    seen = []
    for name in ("a.mp4", "b.mp4"):
        passthrough(src, tmp_path / name, threads=3, before_publish=seen.append)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    assert [path.name.endswith(".mp4") and not path.exists() and path.parent == tmp_path for path in seen] == [True] * 2

    def refuse(path):
        raise InputError("no")

    with pytest.raises(InputError):
        passthrough(src, tmp_path / "c.mp4", before_publish=refuse)
    assert not (tmp_path / "c.mp4").exists() and temp_files(tmp_path) == []


def decoded_planes(path) -> list[tuple[Fraction, np.ndarray]]:
    """(time in seconds, the frame's planes as decoded) of every frame of ``path``."""
    with av.open(str(path)) as container:
        return [(frame.pts * frame.time_base, frame.to_ndarray()) for frame in container.decode(video=0)]


def test_lossless_output_keeps_the_decoded_planes_where_nothing_changed(data_dir, tmp_path):
    src = data_dir / "talking_head_844.mp4"
    with VideoReader(src, end=0.2, keep_planes=True) as reader:
        info = reader.info
        with VideoWriter(tmp_path / "out.mkv", width=info.width, height=info.height, time_base=info.time_base,
                         fps=info.fps, source=src, settings=EncodeSettings(codec="ffv1")) as writer:
            frames = list(reader)
            changed = np.zeros((info.height, info.width), np.uint8)
            changed[100:200, 300:400] = 255
            for frame in frames:
                writer.write(replace(frame, image=255 - frame.image), None, changed)
    assert all(frame.decoded_planes is not None for frame in frames)
    out = decoded_planes(tmp_path / "out.mkv")
    assert len(out) == len(frames) == 5
    h = info.height
    for (_, got), frame in zip(out, frames):
        outside = np.ones(got.shape, bool)
        outside[100:200, 300:400] = False  # luma rows of the changed pixels
        outside[h:] = True
        chroma = got.reshape(-1)[h * info.width:]
        want = frame.decoded_planes.reshape(-1)[h * info.width:]
        assert np.array_equal(got[:h][outside[:h]], frame.decoded_planes[:h][outside[:h]])
        assert (chroma != want).mean() < 0.05  # only the changed block's chroma samples
        assert np.abs(got[150, 350].astype(int) - frame.decoded_planes[150, 350]).max() > 30  # inverted there


def test_a_gray_stream_holds_the_values_as_written(tmp_path):
    settings = EncodeSettings(codec="ffv1", crf=None, preset=None, pix_fmt="gray")
    with VideoWriter(tmp_path / "mask.mkv", width=64, height=48, time_base=Fraction(1, 25), fps=Fraction(25),
                     settings=settings) as writer:
        for index in range(3):
            writer.write_planes(Frame(index, index + 2, Fraction(1, 25), None), np.full((48, 64), 100 * index, np.uint8))
        with pytest.raises(ValueError, match="gray"):
            writer.write_planes(Frame(3, 5, Fraction(1, 25), None), np.zeros((48, 64, 3), np.uint8))
    out = decoded_planes(tmp_path / "mask.mkv")
    assert [time for time, _ in out] == [0, Fraction(1, 25), Fraction(2, 25)]
    assert [int(planes[0, 0]) for _, planes in out] == [0, 100, 200]  # full range: the values as written


def test_finished_files_are_published_only_by_close(tmp_path):
    writers = [VideoWriter(tmp_path / name, width=64, height=48, time_base=Fraction(1, 25), fps=Fraction(25),
                           settings=FAST) for name in ("a.mp4", "b.mp4")]
    for writer in writers:
        writer.write(Frame(0, 0, Fraction(1, 25), np.zeros((48, 64, 3), np.uint8)))
        writer.finish()
    assert not (tmp_path / "a.mp4").exists() and len(temp_files(tmp_path)) == 2
    writers[0].close()
    writers[1].abort()
    assert (tmp_path / "a.mp4").exists() and not (tmp_path / "b.mp4").exists() and temp_files(tmp_path) == []
