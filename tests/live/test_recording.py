"""Audio in live recordings: a file source's audio is copied packet for packet and stays in sync."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gpen_video.config import build_settings
from gpen_video.engine import Engine
from gpen_video.live.loop import run_live
from gpen_video.restore import PassthroughRestorer
from tests.helpers.streams import audio_packets

pytestmark = pytest.mark.serial  # asserts wall-clock behaviour: run apart from the parallel pass

SIZE = 160  # the clip's frames: SIZE x SIZE, a frame-number code in the top BAR rows
BAR = 16
BITS = 8


def stamp(image: np.ndarray, number: int) -> np.ndarray:
    """Write ``number`` into the top rows as BITS black/white blocks (survives H.264 easily)."""
    out = image.copy()
    block = SIZE // BITS
    for bit in range(BITS):
        out[:BAR, bit * block:(bit + 1) * block] = 255 if number >> bit & 1 else 0
    return out


def read_stamp(image: np.ndarray) -> int:
    block = SIZE // BITS
    return sum(1 << bit for bit in range(BITS) if image[2:BAR - 2, bit * block + 3:(bit + 1) * block - 3].mean() > 128)


@pytest.fixture(scope="module")
def talking_clip(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """talking_head_844.mp4 (5 s, AAC audio) with numbered SIZE x SIZE frames; the audio packets copied as they are."""
    dest = tmp_path_factory.mktemp("live_audio") / "talk.mp4"
    with av.open(str(data_dir / "talking_head_844.mp4")) as inp, av.open(str(dest), "w") as out:
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        vout = out.add_stream("libx264", rate=vin.average_rate)
        vout.width = vout.height = SIZE
        vout.pix_fmt = "yuv420p"
        vout.options = {"preset": "ultrafast", "crf": "18"}
        aout = out.add_stream_from_template(ain)
        for packet in inp.demux(vin, ain):
            if packet.stream is ain:
                if packet.size:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for frame in packet.decode():
                number = round(frame.pts * vin.time_base * vin.average_rate)
                image = stamp(frame.to_ndarray(format="rgb24", width=SIZE, height=SIZE), number)
                small = av.VideoFrame.from_ndarray(image, format="rgb24")
                small.pts, small.time_base = number, 1 / Fraction(vin.average_rate)
                out.mux(vout.encode(small))
        out.mux(vout.encode(None))
    return dest


@pytest.mark.timeout(60)
def test_recording_a_file_source_keeps_its_audio_bit_exact_and_in_sync(talking_clip: Path, tmp_path: Path) -> None:
    settings = build_settings("webcam", {"live": {"window": False}, "faces": {"temporal": 0.0}})

    class NoFaces:
        def detect(self, images):
            return [[] for _ in images]

    engine = Engine(settings, restorer=PassthroughRestorer(size=128, batch_size=1), detector=NoFaces())
    output = tmp_path / "rec.mp4"
    result = run_live(str(talking_clip), settings, output=output, engine=engine)  # 5 s at the real-time rate
    assert result.stopped == "end" and result.writer.audio_packets > 100

    with av.open(str(talking_clip)) as src:
        fps = src.streams.video[0].average_rate
    period = float(1 / fps)
    with av.open(str(output)) as rec:
        video = rec.streams.video[0]
        shown = [(float(f.pts * video.time_base), read_stamp(f.to_ndarray(format="rgb24"))) for f in rec.decode(video)]
    with av.open(str(output)) as rec:
        first_audio = next(float(p.pts * p.time_base) for p in rec.demux(rec.streams.audio[0]) if p.size)
    numbers = [n for _, n in shown]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers) == result.frames

    # The audio: the source's packets, byte for byte, over the recorded span, give or take one packet each end.
    span_start, span_end = numbers[0] * period, (numbers[-1] + 1) * period
    source_packets = audio_packets(talking_clip)
    in_span = audio_packets(talking_clip, span_start, span_end)
    recorded = audio_packets(output)
    first = source_packets.index(recorded[0])
    assert source_packets[first:first + len(recorded)] == recorded  # contiguous and identical
    expected_first = source_packets.index(in_span[0])
    assert abs(first - expected_first) <= 1
    assert abs((first + len(recorded)) - (expected_first + len(in_span))) <= 1

    # In sync: every frame sits where its source time says, against the audio's own clock, within a frame.
    with av.open(str(talking_clip)) as src:
        audio_source_times = [float(p.pts * p.time_base) for p in src.demux(src.streams.audio[0]) if p.size]
    offset = first_audio - audio_source_times[first]  # recording time minus source time, by the audio
    errors = [abs(t - (n * period + offset)) for t, n in shown]
    assert max(errors) < period, (max(errors), period)
