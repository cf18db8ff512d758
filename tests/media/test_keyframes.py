"""Keyframe index of real files (pts, keyframes, origin) and segment planning on it."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from gpen_video.errors import MediaOpenError
from gpen_video.media.keyframes import FrameIndex, Segment, index_frames, plan_segments, reader_window
from gpen_video.media.reader import VideoReader
from tests.helpers.clips import AudioSpec, make_clip, make_raw_h264
from tests.helpers.real_media import cut_clip
from tests.helpers.streams import frame_times, video_pts


def frame_index(count: int, gop: int, *, exact: bool = True) -> FrameIndex:
    """25 fps at time base 1/12800 (512 ticks a frame), a keyframe every ``gop`` frames."""
    return FrameIndex(tuple(512 * i for i in range(count)), tuple(range(0, count, gop)), Fraction(1, 12800),
                      Fraction(0), Fraction(25), exact)


def test_segments_start_on_keyframes_and_cover_every_frame() -> None:
    index = frame_index(110, gop=10)  # 4.4 s, keyframes every 0.4 s
    segments = plan_segments(index, 1.0, warmup=6)
    assert [(s.start, s.end) for s in segments] == [(0, 30), (30, 60), (60, 90), (90, 110)]
    assert [s.warm for s in segments] == [0, 24, 54, 84]
    aligned = plan_segments(index, 1.0, warmup=6, detect_every=4)
    assert [s.warm for s in aligned] == [0, 24, 52, 84]  # multiples of 4: same detector frames
    assert plan_segments(index, 4.4, warmup=6) == [Segment(0, 0, 110)]  # not longer than 4.4 s
    tail = plan_segments(frame_index(95, gop=10), 1.0, warmup=6)  # 0.2 s would be left after frame 90
    assert [(s.start, s.end) for s in tail] == [(0, 30), (30, 60), (60, 95)]
    assert plan_segments(frame_index(100, 10, exact=False), 1.0, warmup=6) == [Segment(0, 0, 100)]


def test_raw_stream_without_timestamps_counts_its_frames_and_is_one_segment(tmp_path: Path) -> None:
    index = index_frames(make_raw_h264(tmp_path / "raw.h264", frames=20))
    assert len(index) == 20 and index.pts == () and not index.exact
    assert plan_segments(index, 0.2, warmup=4) == [Segment(0, 0, 20)]


def test_reader_window_ends_at_the_next_segment() -> None:
    index = frame_index(100, gop=10)
    start, end = reader_window(index, Segment(24, 30, 60))
    assert start == pytest.approx(24 * 0.04) and end == pytest.approx(60 * 0.04)
    assert reader_window(index, Segment(0, 0, 30))[0] is None
    assert reader_window(index, Segment(84, 90, 100))[1] is None


def test_index_of_a_real_clip_lists_every_decoded_frame_and_its_keyframes(data_dir, tmp_path):
    clip = cut_clip(data_dir / "talking_head_844.mp4", tmp_path / "clip.mp4", start=1.0, seconds=1.6, gop=10)
    with av.open(str(clip)) as container:
        demuxed = [p.pts for p in container.demux(video=0) if p.size]
    with av.open(str(clip)) as container:
        decoded_keys = tuple(i for i, frame in enumerate(container.decode(video=0)) if frame.key_frame)
    assert demuxed != sorted(demuxed)  # B-frames: the index must put packets in presentation order
    index = index_frames(clip)
    assert index.pts == tuple(video_pts(clip)) and len(index) == 41
    assert index.keyframes == tuple(range(0, 41, 10)) == decoded_keys
    assert index.exact and index.time_base == Fraction(1, 12800) and index.fps == 25
    times = frame_times(clip)
    assert index.origin == 0 and [index.time(i) for i in range(len(index))] == times
    assert index.duration == times[-1] - times[0] + Fraction(1, 25) == Fraction(41, 25)


def _late_mp4(data_dir: Path, folder: Path) -> Path:
    """Video from 0.5 s, audio from 0.3 s: the container starts with the audio, before the video."""
    return make_clip(folder / "late.mp4", frames=25, video_start=0.5, audio=(AudioSpec(seconds=1.0, start=0.3),))


def _cut_ts(data_dir: Path, folder: Path) -> Path:
    """MPEG-TS: the muxer starts the timeline after zero; the audio (cut on its own packets) leads the video."""
    return cut_clip(data_dir / "talking_head_844.mp4", folder / "clip.ts", start=0.5, seconds=1.0, gop=10)


# Windows that start after frame 0 need a seek, which FFmpeg does not make frame-exact in MPEG-TS,
# so on the TS clip only the window ends are checked against the reader.
@pytest.mark.parametrize(("make", "segments"), [
    (_late_mp4, [Segment(0, 0, 10), Segment(6, 10, 20), Segment(20, 20, 25)]),
    (_cut_ts, [Segment(0, 0, 7), Segment(0, 0, 10), Segment(0, 0, 20)]),
], ids=["mp4-audio-first", "mpegts"])
def test_index_times_count_from_the_container_start_like_the_reader(data_dir, tmp_path, make, segments):
    clip = make(data_dir, tmp_path)
    index = index_frames(clip)
    with av.open(str(clip)) as container:
        video = container.streams.video[0]
        first_video = Fraction(video.start_time) * video.time_base
    assert 0 < index.origin < first_video  # audio first (mp4), or the TS muxer's delay before it
    assert index.time(0) == first_video - index.origin
    assert [index.time(i) - index.time(0) for i in range(len(index))] == [Fraction(i, 25) for i in range(25)]
    for segment in segments:
        start, end = reader_window(index, segment)
        with VideoReader(clip, start=start, end=end) as reader:
            assert [frame.pts for frame in reader] == list(index.pts[segment.warm:segment.end]), segment


def _audio_only(data_dir: Path, dest: Path) -> Path:
    """The first 0.5 s of a real clip's audio, stream-copied: a media file with no video stream."""
    with av.open(str(data_dir / "talking_head_844.mp4")) as source, av.open(str(dest), "w") as out:
        audio = source.streams.audio[0]
        copy = out.add_stream_from_template(audio)
        for packet in source.demux(audio):
            if packet.size and packet.pts is not None and packet.pts * audio.time_base < 0.5:
                packet.stream = copy
                out.mux(packet)
    return dest


@pytest.mark.parametrize("name", ["notes.txt", "empty.mp4", "truncated.mp4", "missing.mp4", "audio.m4a"])
def test_a_file_that_is_not_video_is_a_media_open_error(data_dir, tmp_path, name):
    path = tmp_path / name
    if name == "notes.txt":
        path.write_text("not a video\n" * 20)
    elif name == "empty.mp4":
        path.write_bytes(b"")
    elif name == "truncated.mp4":
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 200)
    elif name == "audio.m4a":
        _audio_only(data_dir, path)
    with pytest.raises(MediaOpenError, match=f"cannot open .*{name}"):
        index_frames(path)
