"""VideoReader: frame counts, timestamps, rotation, colour, interlace, size changes, bad files."""
from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gpen_video.errors import InputError, MediaOpenError
from gpen_video.media.image import read_image
from gpen_video.media.reader import VideoReader, planar
from gpen_video.media.source import (demuxer_input, is_device, is_live_url, is_stream, is_url, parse_source,
                                     source_exists)
from tests.helpers.clips import AudioSpec, corrupt_video_packets, make_clip, make_resolution_change
from tests.helpers.streams import frame_times


def test_real_file_every_frame_with_source_pts(data_dir):
    path = data_dir / "crowd_1080p.mp4"
    expected = frame_times(path)
    with VideoReader(path) as reader:
        info = reader.info
        frames = [(f.index, f.seconds, f.image.shape, f.image.dtype) for f in reader]
    assert (info.width, info.height, info.fps, info.has_audio, info.rotation) == (1920, 1080, 25, True, 0)
    assert info.frame_count == 60 and not info.is_live
    assert [f[1] for f in frames] == [float(t) for t in expected]
    assert [f[0] for f in frames] == list(range(60))
    assert {f[2] for f in frames} == {(1080, 1920, 3)} and frames[0][3] == np.uint8
    assert reader.stats.frames == 60 and reader.stats.corrupt_packets == 0


def test_nvdec_asked_for_without_a_gpu_decodes_the_same_frames_on_the_cpu(data_dir):
    import torch

    path = data_dir / "talking_head_844.mp4"
    with VideoReader(path, end=0.2) as plain:
        want = [(f.pts, f.image) for f in plain]
    with VideoReader(path, end=0.2, hwaccel="cuda") as reader:
        got = [(f.pts, f.image) for f in reader]
        notices = reader.stats.notices
    assert [p for p, _ in got] == [p for p, _ in want] and len(got) >= 5
    if torch.cuda.is_available():  # NVDEC: H.264 decodes exactly; its NV12 goes through yuv420p like the CPU's
        assert all(np.abs(g.astype(int) - w).mean() < 0.05 for (_, g), (_, w) in zip(got, want))
    else:
        assert all(np.array_equal(g, w) for (_, g), (_, w) in zip(got, want))
        assert len(notices) == 1 and "decoding on the CPU" in notices[0]
    with pytest.raises(InputError, match="hwaccel"):
        VideoReader(path, hwaccel="vaapi")


def test_nv12_frames_convert_to_rgb_exactly_as_yuv420p_does(data_dir):
    with av.open(str(data_dir / "crowd_1080p.mp4")) as container:
        yuv = next(container.decode(video=0))
    nv12 = yuv.reformat(format="nv12")  # the layout NVDEC frames arrive in
    colour = {"src_colorspace": "ITU709", "src_color_range": "MPEG"}
    want = yuv.to_ndarray(format="rgb24", **colour)
    assert planar(nv12).format.name == "yuv420p" and planar(yuv) is yuv
    assert np.array_equal(planar(nv12).to_ndarray(format="rgb24", **colour), want)
    assert np.abs(nv12.to_ndarray(format="rgb24", **colour).astype(int) - want).mean() > 0.5  # why it matters


def test_vfr_timestamps_are_kept(tmp_path):
    pts = [0, 512, 1024, 2560, 2600, 4096, 9000]
    path = make_clip(tmp_path / "vfr.mp4", pts=pts, audio=())
    with VideoReader(path) as reader:
        got = [f.pts * f.time_base for f in reader]
    assert got == [Fraction(p, 12800) for p in pts]


def test_phone_rotation_is_applied(tmp_path):
    # -90 is what phones write for portrait: the picture must turn clockwise to stand upright.
    path = make_clip(tmp_path / "rot.mp4", size=(64, 48), rotation=-90, audio=())
    with VideoReader(path) as reader:
        frame = next(iter(reader))
        assert (reader.info.width, reader.info.height, reader.info.rotation) == (48, 64, 270)
    assert frame.image.shape == (64, 48, 3)
    # The red block from the stored top-left corner is now at the top-right.
    assert frame.image[2, -3].tolist() == pytest.approx([255, 0, 0], abs=12)
    assert frame.image[2, 2, 0] < 200


@pytest.mark.parametrize(
    ("pix_fmt", "colorspace"), [("yuv420p10le", 1), ("yuv420p10le", 9), ("yuv420p", 6), ("yuv420p", 1)]
)
def test_declared_colour_matrix_is_used(tmp_path, pix_fmt, colorspace):
    colour = np.array([200, 30, 30], np.uint8)
    path = make_clip(
        tmp_path / "c.mkv", pix_fmt=pix_fmt, colorspace=colorspace, audio=(), frames=2,
        image=lambda i, w, h: np.broadcast_to(colour, (h, w, 3)).copy(),
    )
    with VideoReader(path) as reader:
        image = next(iter(reader)).image
    assert np.abs(image[20, 30].astype(int) - colour).max() <= 4


def test_hdr_transfer_gives_a_warning(tmp_path):
    path = make_clip(tmp_path / "pq.mkv", pix_fmt="yuv420p10le", colorspace=9, trc=16, audio=(), frames=2)
    with VideoReader(path) as reader:
        assert any("HDR" in n for n in reader.stats.notices)


def test_interlaced_input_is_deinterlaced_one_frame_per_frame_at_the_source_timestamps(tmp_path):
    path = make_clip(tmp_path / "i.mp4", interlaced=True, audio=(), frames=50)
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).interlaced_frame  # PyAV sees the clip as interlaced
    source = frame_times(path)
    with VideoReader(path) as reader:
        frames = list(reader)
        assert reader.stats.deinterlaced and reader.info.time_base == Fraction(1, 12800)
    assert [f.pts * f.time_base for f in frames] == source  # 0 .. 1.96 s, not 0 .. 3.92 s
    assert [f.seconds for f in frames] == [float(t) for t in source]
    with VideoReader(path, end=1.5) as reader:  # the trim window counts source seconds too
        assert len(list(reader)) == 38
    with VideoReader(path, start=1.0, end=1.5) as reader:
        assert [f.seconds for f in reader] == pytest.approx([1.0 + 0.04 * i for i in range(13)])
    with VideoReader(path, deinterlace=False) as reader:
        assert [f.pts * f.time_base for f in reader] == source
        assert not reader.stats.deinterlaced and any("interlaced" in n for n in reader.stats.notices)


def test_resolution_change_is_rescaled_to_first_size(tmp_path):
    path = make_resolution_change(tmp_path / "rc.ts", (64, 48), (80, 60))
    with VideoReader(path) as reader:
        frames = list(reader)
    assert len(frames) == 12
    assert {f.image.shape for f in frames} == {(48, 64, 3)}
    assert reader.stats.resized_frames == 6


def test_corrupt_packets_are_skipped_and_counted(tmp_path):
    path = make_clip(tmp_path / "bad.mp4", frames=25, audio=())
    corrupt_video_packets(path, range(10, 13))
    with VideoReader(path) as reader:
        frames = list(reader)
    assert reader.stats.corrupt_packets == 3
    assert len(frames) == 22


def test_trim_window(tmp_path):
    path = make_clip(tmp_path / "t.mp4", frames=25, audio=())
    with VideoReader(path, start=0.2, end=0.6) as reader:
        times = [f.seconds for f in reader]
    assert times == pytest.approx([0.2 + 0.04 * i for i in range(10)])
    with pytest.raises(InputError):
        VideoReader(path, start=0.5, end=0.4)


@pytest.mark.parametrize(("start", "end", "first", "count"), [
    (None, 0.4, 0, 10), (None, 1, 0, 25), (0.2, 0.4, 5, 5), (0.4, 1.2, 10, 20), (None, 0.41, 0, 11)])
def test_trim_end_is_exclusive_whatever_its_value(tmp_path, start, end, first, count):
    # 25 fps: a frame is kept when start <= its time < end, also where the end in binary floating
    # point (0.4 is 0.400000000000000022...) lies a hair after a frame's exact time.
    path = make_clip(tmp_path / "t.mp4", frames=40, audio=())
    with VideoReader(path, start=start, end=end) as reader:
        times = [f.seconds for f in reader]
    assert times == pytest.approx([0.04 * (first + i) for i in range(count)])


def test_frames_without_pts_are_timed_from_the_seek_point(tmp_path, monkeypatch):
    # MJPEG: every frame is a keyframe, so the seek lands exactly on the frame at ``start``.
    path = make_clip(tmp_path / "nopts.mkv", frames=24, codec="mjpeg", pix_fmt="yuvj420p", audio=())
    with VideoReader(path, start=0.4, end=0.78) as reader:
        expected = [f.image for f in reader]
    decode = VideoReader._decode

    def without_pts(self):  # frames as a raw elementary stream gives them: no timestamps at all
        for frame in decode(self):
            frame.pts = None
            yield frame

    monkeypatch.setattr(VideoReader, "_decode", without_pts)
    with VideoReader(path, start=0.4, end=0.78) as reader:
        frames = list(reader)
    assert len(frames) == len(expected) == 10  # frames 10..19, not 4 frames from 20 on
    assert all(f.pts is None for f in frames)
    assert all(np.array_equal(f.image, image) for f, image in zip(frames, expected))
    with VideoReader(path, end=0.38) as reader:  # no seek: counted from the container start
        assert len(list(reader)) == 10


def test_realtime_paces_and_stamps(tmp_path):
    path = make_clip(tmp_path / "rt.mp4", frames=8, audio=())
    with VideoReader(path, realtime=True) as reader:
        assert reader.info.is_live
        t0 = time.monotonic()
        stamps = [f.time for f in reader]
    assert time.monotonic() - t0 >= 0.27  # 7 frame gaps of 40 ms
    assert all(b > a for a, b in zip(stamps, stamps[1:]))


def _truncated(tmp_path):
    path = make_clip(tmp_path / "trunc.mp4", frames=12)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # moov sits at the end: gone
    return path


def _audio_only(tmp_path):
    path = tmp_path / "a.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.float32), format="flt", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda d: (d / "zero.mp4").write_bytes(b"") or d / "zero.mp4",
        lambda d: (d / "notes.mp4").write_text("this is not a video\n" * 20) or d / "notes.mp4",
        _truncated,
        _audio_only,
        lambda d: d / "missing.mp4",
    ],
    ids=["zero-bytes", "text-file", "truncated", "no-video-stream", "missing"],
)
def test_unopenable_files_raise_media_open_error(tmp_path, make):
    with pytest.raises(MediaOpenError):
        VideoReader(make(tmp_path))


@pytest.mark.timeout(60)  # reading a named pipe would block until a writer comes: it must not be opened
@pytest.mark.parametrize("kind, said", [("folder", "a folder"), ("fifo", "named pipe"), ("device", "a device")])
def test_inputs_that_are_not_files_are_named_as_what_they_are(tmp_path, kind, said):
    path = {"folder": tmp_path, "fifo": tmp_path / "pipe.mp4", "device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(MediaOpenError, match=said):
        VideoReader(path)
    with pytest.raises(MediaOpenError, match=said):
        VideoReader(f"file://{path}")  # the URL spelling of the same local file
    with pytest.raises(MediaOpenError, match=said):
        read_image(path)


def test_truncated_input_warns_with_decoded_and_declared_frames(tmp_path):
    path = make_clip(tmp_path / "full.mkv", frames=50, audio=())  # mkv declares its duration up front
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with VideoReader(cut) as reader:
        decoded = len(list(reader))
    assert 0 < decoded < 45 and reader.stats.declared_frames == 50
    assert [n for n in reader.stats.notices if f"decoded {decoded} of the 50 frames" in n and "truncated" in n]
    with VideoReader(path) as reader:  # the whole file, and a trimmed read of it, warn of nothing
        assert len(list(reader)) == 50 and reader.stats.notices == []
    with VideoReader(path, end=0.5) as reader:
        assert len(list(reader)) == 13 and reader.stats.notices == [] and reader.stats.declared_frames == 13


@pytest.mark.parametrize(("start", "end", "declared"), [(1.0, None, 25), (None, 1.8, 45), (0.4, 1.8, 35)])
def test_truncated_input_warns_also_when_trimmed(tmp_path, start, end, declared):
    path = make_clip(tmp_path / "full.mkv", frames=50, audio=())
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 3 // 4])
    with VideoReader(cut) as reader:
        reached = [f.seconds for f in reader][-1]
    assert 1.1 < reached < 1.5  # what is left of the 2 s clip
    with VideoReader(cut, start=start, end=end) as reader:
        decoded = len(list(reader))
    assert reader.stats.declared_frames == declared
    assert [n for n in reader.stats.notices
            if f"decoded {decoded} of the {declared} frames" in n and "truncated" in n], reader.stats.notices
    with VideoReader(cut, start=0.2, end=0.6) as reader:  # a window inside what is there: all of it came
        assert len(list(reader)) == 10 and reader.stats.notices == [] and reader.stats.declared_frames == 10


def test_two_audio_tracks_are_reported(tmp_path):
    path = make_clip(tmp_path / "two.mp4", audio=(AudioSpec(), AudioSpec(language="fra")))
    with VideoReader(path) as reader:
        assert reader.info.has_audio


def test_source_strings_are_classified_in_one_place(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    assert parse_source("0") == 0 and parse_source("/dev/video2") == "/dev/video2"
    assert parse_source("rtsp://cam/s") == "rtsp://cam/s" and parse_source(str(clip)) == str(clip)
    with pytest.raises(InputError, match="source not found"):
        parse_source(str(tmp_path / "missing.mp4"))
    assert parse_source(f"file:{clip}") == f"file:{clip}" and parse_source(f"file://{clip}") == f"file://{clip}"
    with pytest.raises(InputError, match="source not found"):
        parse_source(f"file:{tmp_path / 'missing.mp4'}")
    assert source_exists(f"file:{clip}") and source_exists("http://host/a.ts") and source_exists(0)
    assert not source_exists(f"file://{tmp_path}/missing.mp4") and not source_exists("/dev/video99")
    assert is_device(0) and is_device("/dev/video10") and not is_device("/dev/video") and not is_device("0.mp4")
    assert is_url("http://host/a.ts") and not is_url(0) and not is_url(clip)
    assert is_live_url("RTSP://cam/s") and is_live_url("udp://@:1234") and not is_live_url("http://host/a.ts")
    assert is_stream(0) and is_stream("srt://host") and not is_stream(str(clip))
    assert demuxer_input(3) == ("/dev/video3", "v4l2") and demuxer_input("/dev/video0") == ("/dev/video0", "v4l2")
    assert demuxer_input(clip) == (str(clip), None)


@pytest.mark.parametrize(("kwargs", "kept"), [
    ({}, False),  # an undeclared matrix at 48 lines reads as BT.601, not the BT.709 the writer tags
    ({"colorspace": 1}, True),
    ({"colorspace": 1, "pix_fmt": "yuv444p"}, False),
    ({"colorspace": 1, "rotation": 90}, False),
    ({"colorspace": 5}, False),
])
def test_decoded_planes_are_kept_only_in_the_writers_own_format(tmp_path, kwargs, kept):
    clip = make_clip(tmp_path / "in.mp4", frames=3, audio=(), **kwargs)
    with VideoReader(clip, keep_planes=True) as reader:
        frames = list(reader)
    with VideoReader(clip) as reader:
        assert all(frame.decoded_planes is None for frame in reader)  # only when asked
    if not kept:
        assert all(frame.decoded_planes is None for frame in frames)
        return
    with av.open(str(clip)) as container:
        want = [frame.to_ndarray() for frame in container.decode(video=0)]
    assert len(frames) == len(want) == 3
    assert all(np.array_equal(frame.decoded_planes, planes) for frame, planes in zip(frames, want))
