"""Decode+encode cost of gpen_video.media against a minimal PyAV loop with the same encoder settings.

Both sides decode tests/data/crowd_1080p.mp4 to RGB uint8 arrays and encode them back with
libx264 (same crf, preset, pix_fmt, codec threading). Our side also copies the audio, keeps the source
timestamps and writes through a temporary file. Runs alternate; the best run of each side is compared (the machine is shared, so the best run is the
least disturbed one) and the median ratio is printed too.

    python3 bench/bench_media.py [--preset veryfast] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gpen_video.media.settings import EncodeSettings  # noqa: E402
from gpen_video.media.reader import VideoReader  # noqa: E402
from gpen_video.media.writer import VideoWriter  # noqa: E402

SOURCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "crowd_1080p.mp4"


def minimal_loop(src: Path, dest: Path, crf: int, preset: str) -> int:
    """The plain PyAV decode -> RGB ndarray -> encode loop."""
    frames = 0
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        vin = inp.streams.video[0]
        vin.codec_context.thread_type = "AUTO"
        vout = out.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.codec_context.thread_type = "AUTO"
        vout.codec_context.options = {"crf": str(crf), "preset": preset}
        for frame in inp.decode(vin):
            rgb = frame.to_ndarray(format="rgb24")
            new = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            new.pts, new.time_base = frame.pts, frame.time_base
            out.mux(vout.encode(new))
            frames += 1
        out.mux(vout.encode(None))
    return frames


def our_layer(src: Path, dest: Path, crf: int, preset: str) -> int:
    with VideoReader(src) as reader:
        info = reader.info
        with VideoWriter(dest, width=info.width, height=info.height, time_base=info.time_base, fps=info.fps,
                         source=src, settings=EncodeSettings(crf=crf, preset=preset), overwrite=True) as writer:
            for frame in reader:
                writer.write(frame)
    return writer.stats.frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="medium", help="x264 preset for both sides (default medium)")
    parser.add_argument("--crf", type=int, default=18)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"pyav": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for name, fn in (("pyav", minimal_loop), ("ours", our_layer)):
                t0 = time.perf_counter()
                n = fn(args.source, Path(tmp) / f"{name}.mp4", args.crf, args.preset)
                times[name].append(time.perf_counter() - t0)
    base, ours = min(times["pyav"]), min(times["ours"])
    median_ratio = statistics.median(times["ours"]) / statistics.median(times["pyav"])
    print(f"source {args.source.name}: {n} frames; libx264 crf {args.crf} preset {args.preset}; {args.repeats} runs each")
    print(f"minimal PyAV loop  best {base:7.2f} s  ({n / base:5.1f} fps)")
    print(f"gpen_video.media   best {ours:7.2f} s  ({n / ours:5.1f} fps)")
    print(f"overhead ratio     best {ours / base:7.3f}  median {median_ratio:.3f}  (limit 1.10)")


if __name__ == "__main__":
    main()
