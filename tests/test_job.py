"""Jobs end to end: an interlaced input with audio keeps its frame rate, timestamps and sync, trimmed or not."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from gpen_video.config import build_settings
from gpen_video.job import enhance_video
from tests.helpers.clips import AudioSpec, make_clip
from tests.helpers.streams import frame_times, stream_ends

FRAME = 1 / 25


@pytest.fixture(scope="module")
def interlaced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of interlaced H.264 (top field first, 25 frames/s) with 2 s of AAC audio."""
    folder = tmp_path_factory.mktemp("interlaced")
    return make_clip(folder / "i.mp4", interlaced=True, frames=50, audio=(AudioSpec(seconds=2.0),))


@pytest.mark.parametrize(("start", "end", "first", "count"), [
    (None, None, 0, 50), (None, 1.5, 0, 38), (0.4, 1.5, 10, 28)])
def test_interlaced_input_keeps_its_frame_rate_timestamps_and_audio_sync(interlaced, tmp_path, start, end,
                                                                         first, count):
    settings = build_settings(None, {"restore": {"restorer": "none"}, "encode": {"preset": "ultrafast"}})
    output = tmp_path / "out.mp4"
    result = enhance_video(interlaced, output, settings, start=start, end=end)
    assert result.media["reader"]["deinterlaced"] and result.stats.frames == count
    source = frame_times(interlaced)[first:first + count]
    shift = source[0]  # the output starts at zero
    written = frame_times(output)
    assert len(written) == count
    assert max(abs(w - (s - shift)) for w, s in zip(written, source)) < Fraction(FRAME) / 2
    ends = stream_ends(output)
    assert ends["video"] == pytest.approx(count * FRAME, abs=FRAME / 2)  # 2 s (1.52 s, 1.12 s), not twice that
    assert ends["audio"] == pytest.approx(ends["video"], abs=FRAME)
