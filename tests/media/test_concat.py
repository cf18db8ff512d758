"""concat_segments: segment files joined back onto the source timeline, the source's audio once, safe output."""
from __future__ import annotations

import errno
from fractions import Fraction
from pathlib import Path

import av
import pytest

from gpen_video.errors import GpenVideoError, InputError, MediaOpenError
from gpen_video.media.concat import SegmentFile, concat_segments
from gpen_video.media.settings import EncodeSettings
from gpen_video.media.reader import VideoReader
from gpen_video.media.streams import Passthrough
from gpen_video.media.writer import VideoWriter
from tests.helpers.clips import AudioSpec, make_clip
from tests.helpers.real_media import cut_clip
from tests.helpers.streams import audio_packets, frame_times, packets, stream_starts, temp_files, video_pts

FAST = EncodeSettings(preset="ultrafast")


def _segments(
    src: Path, folder: Path, cuts: tuple[int, ...] = (6,)
) -> tuple[list[SegmentFile], Fraction, Fraction | None]:
    """``src`` re-encoded as video-only segment files a.mp4, b.mp4, ... split before frames ``cuts``,
    as the batch writes them."""
    with VideoReader(src) as reader:
        info = reader.info
        frames = list(reader)
    bounds = [0, *cuts, len(frames)]
    parts = []
    for name, first, end in zip("abcdefgh", bounds, bounds[1:]):
        path = folder / f"{name}.mp4"
        with VideoWriter(path, width=info.width, height=info.height, time_base=info.time_base,
                         fps=info.fps, settings=FAST) as writer:
            for frame in frames[first:end]:
                writer.write(frame)
        parts.append(SegmentFile(path, frames[first].pts))
    return parts, info.time_base, info.fps


def _single_run(src: Path, dest: Path) -> None:
    """``src`` through one VideoWriter with its audio: what the joined output must equal."""
    with VideoReader(src) as reader:
        info = reader.info
        with VideoWriter(dest, width=info.width, height=info.height, time_base=info.time_base, fps=info.fps,
                         source=src, settings=FAST) as writer:
            for frame in reader:
                writer.write(frame)


def test_concat_opens_each_segment_once_and_keeps_audio_bytes(tmp_path, monkeypatch):
    src, dest = make_clip(tmp_path / "src.mp4", frames=12), tmp_path / "out.mp4"
    parts, time_base, fps = _segments(src, tmp_path)
    opened: list[str] = []
    real_open = av.open

    def counting_open(file, *args, **kwargs):
        opened.append(Path(str(file)).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    stats = concat_segments(parts, dest, source=src, time_base=time_base, fps=fps)
    monkeypatch.undo()
    assert opened.count("a.mp4") == 1 and opened.count("b.mp4") == 1 and opened.count("src.mp4") == 1
    assert stats.video_packets == 12
    assert frame_times(dest) == frame_times(src)
    assert packets(dest, "audio") == packets(src, "audio")


def test_concat_write_error_is_a_gpen_video_error(tmp_path, monkeypatch):
    src, dest = make_clip(tmp_path / "src.mp4", frames=12), tmp_path / "out.mp4"
    parts, time_base, fps = _segments(src, tmp_path)

    def disk_full(self, end):
        raise av.FFmpegError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Passthrough, "finish", disk_full)
    with pytest.raises(GpenVideoError, match="out.mp4.*No space left"):
        concat_segments(parts, dest, source=src, time_base=time_base, fps=fps)
    assert not dest.exists() and temp_files(tmp_path) == []


def test_three_segments_of_a_real_clip_join_back_to_its_frames_and_audio(data_dir, tmp_path):
    src = cut_clip(data_dir / "talking_head_844.mp4", tmp_path / "src.mp4", start=1.0, seconds=1.6, gop=10)
    parts, time_base, fps = _segments(src, tmp_path, cuts=(10, 30))  # on keyframes, as the batch cuts
    dest = tmp_path / "out.mp4"
    stats = concat_segments(parts, dest, source=src, time_base=time_base, fps=fps)
    times = frame_times(src)
    assert len(times) == 41 and stats.video_packets == 41
    assert frame_times(dest) == times
    source_audio = audio_packets(src)
    assert audio_packets(dest) == source_audio and stats.audio_packets == len(source_audio)
    assert stats.fixed_packets == stats.dropped_packets == 0 and stats.notices == []
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize(("name", "video_start", "audio_start", "out"), [
    ("late.mp4", 0.5, 0.3, "out.mp4"),  # audio first, video 0.2 s later: offsets kept
    ("in.ts", 1.0, 1.0, "out.mkv"),  # the MPEG-TS start: the whole output shifted to zero
], ids=["mp4-late-video", "mpegts-to-mkv"])
def test_join_stamps_video_and_audio_exactly_as_one_writer_run(tmp_path, name, video_start, audio_start, out):
    src = make_clip(tmp_path / name, frames=12, video_start=video_start,
                    audio=(AudioSpec(seconds=0.7, start=audio_start),))
    parts, time_base, fps = _segments(src, tmp_path, cuts=(4, 8))
    joined, single = tmp_path / out, tmp_path / f"single{Path(out).suffix}"
    concat_segments(parts, joined, source=src, time_base=time_base, fps=fps)
    _single_run(src, single)
    assert video_pts(joined) == video_pts(single) and len(video_pts(joined)) == 12
    assert packets(joined, "audio") == packets(single, "audio")  # same bytes, same pts: no seams
    assert stream_starts(joined) == stream_starts(single)


def test_an_empty_segment_list_is_refused_and_writes_nothing(tmp_path):
    src = make_clip(tmp_path / "src.mp4", frames=4)
    with pytest.raises(GpenVideoError, match="no segments"):
        concat_segments([], tmp_path / "out.mp4", source=src, time_base=Fraction(1, 12800), fps=Fraction(25))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.mp4"]


@pytest.mark.parametrize("order", [(1, 0, 2), (0, 1, 1)])
def test_segments_out_of_order_or_repeated_are_refused(tmp_path, order):
    src = make_clip(tmp_path / "src.mp4", frames=12)
    parts, time_base, fps = _segments(src, tmp_path, cuts=(4, 8))
    with pytest.raises(GpenVideoError, match="not in presentation order"):
        concat_segments([parts[i] for i in order], tmp_path / "out.mp4", source=src, time_base=time_base, fps=fps)
    assert not (tmp_path / "out.mp4").exists() and temp_files(tmp_path) == []


def test_destination_checks_keep_existing_files(tmp_path):
    src = make_clip(tmp_path / "src.mp4", frames=8)
    parts, time_base, fps = _segments(src, tmp_path, cuts=(4,))
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"previous result")
    with pytest.raises(InputError, match="already exists"):
        concat_segments(parts, dest, source=src, time_base=time_base, fps=fps)
    assert dest.read_bytes() == b"previous result"
    with pytest.raises(InputError, match="over the input"):
        concat_segments(parts, src, source=src, time_base=time_base, fps=fps, overwrite=True)
    assert len(frame_times(src)) == 8
    concat_segments(parts, dest, source=src, time_base=time_base, fps=fps, overwrite=True)
    assert frame_times(dest) == frame_times(src) and temp_files(tmp_path) == []


def test_a_damaged_segment_mid_way_leaves_the_old_output_and_no_temp_file(tmp_path):
    src = make_clip(tmp_path / "src.mp4", frames=12)
    parts, time_base, fps = _segments(src, tmp_path, cuts=(4, 8))
    parts[1].path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"previous result")
    with pytest.raises(MediaOpenError, match="b.mp4"):
        concat_segments(parts, dest, source=src, time_base=time_base, fps=fps, overwrite=True)
    assert dest.read_bytes() == b"previous result"
    assert temp_files(tmp_path) == []


def test_segments_encoded_differently_are_refused(tmp_path):
    src = make_clip(tmp_path / "src.mp4", size=(64, 48), frames=8)
    parts, time_base, fps = _segments(src, tmp_path, cuts=(4,))
    other = make_clip(tmp_path / "other.mp4", size=(96, 64), frames=4, audio=())
    parts[1] = SegmentFile(other, parts[1].first_pts)
    dest = tmp_path / "out.mp4"
    with pytest.raises(GpenVideoError, match="other.mp4 was encoded differently"):
        concat_segments(parts, dest, source=src, time_base=time_base, fps=fps)
    assert not dest.exists() and temp_files(tmp_path) == []
