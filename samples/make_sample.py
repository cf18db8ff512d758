"""Make samples/talking_head.mp4 from tests/data/talking_head_844.mp4.

Source: OpenTalker/video-retalking, examples/face/2.mp4 (Apache-2.0), 844x844, 25 fps, H.264 + AAC.
The sample keeps the first 3 seconds, scaled to 512x512 and re-encoded with libx264 (crf 26),
and copies the AAC audio packets of that span unchanged.

    python3 samples/make_sample.py [SOURCE] [DEST]
"""
from __future__ import annotations

import sys
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent
SECONDS = 3.0
SIZE = 512


def make_sample(source: Path, dest: Path) -> None:
    with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
        video_in = inp.streams.video[0]
        audio_in = inp.streams.audio[0]
        video_out = out.add_stream("libx264", rate=video_in.average_rate, options={"crf": "26", "preset": "slow"})
        video_out.width = video_out.height = SIZE
        video_out.pix_fmt = "yuv420p"
        video_out.time_base = video_in.time_base
        audio_out = out.add_stream_from_template(audio_in)
        for packet in inp.demux(video_in, audio_in):
            if packet.dts is None or packet.pts is None:
                continue
            if packet.stream is audio_in:
                if float(packet.pts * packet.time_base) < SECONDS:
                    packet.stream = audio_out
                    out.mux(packet)
                continue
            # Decode every video packet (later packets may be references), keep frames by time.
            for frame in packet.decode():
                if float(frame.pts * frame.time_base) >= SECONDS:
                    continue
                scaled = frame.reformat(width=SIZE, height=SIZE, format="yuv420p")
                scaled.pts, scaled.time_base = frame.pts, frame.time_base
                out.mux(video_out.encode(scaled))
        out.mux(video_out.encode(None))


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "tests" / "data" / "talking_head_844.mp4"
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "talking_head.mp4"
    make_sample(src, dst)
    print(f"wrote {dst} ({dst.stat().st_size / 1e6:.2f} MB)")
