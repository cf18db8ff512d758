"""The real clips and pictures in ``tests/data``: decoded slices (cached per process) and short cuts."""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

from tests.helpers.paths import DATA


@lru_cache(maxsize=8)
def video_frames(name: str, count: int, start: int = 0) -> tuple[np.ndarray, ...]:
    """Frames [start, start + count) of a ``tests/data`` video as uint8 [H, W, 3] RGB."""
    out = []
    with av.open(str(Path(DATA) / name)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start + count:
                break
            if i >= start:
                out.append(frame.to_ndarray(format="rgb24"))
    return tuple(out)


@lru_cache(maxsize=1)
def solvay() -> np.ndarray:
    """The Solvay photograph as uint8 [H, W, 3] RGB (alpha dropped)."""
    bgr = cv2.imread(str(Path(DATA) / "Solvay_conference_1927.png"), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[..., ::-1])


def cut_clip(source: Path, dest: Path, *, start: float = 0.0, seconds: float = 1.0, width: int = 256, gop: int = 25) -> Path:
    """Write ``dest``: ``seconds`` of ``source`` from ``start``, video scaled to ``width`` (H.264, a
    keyframe every ``gop`` frames, no B-frames dropped), audio packets stream-copied in the same window.
    """
    with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
        vin = inp.streams.video[0]
        height = round(vin.codec_context.height * width / vin.codec_context.width / 2) * 2
        rate = vin.average_rate or Fraction(25)
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        vout.time_base = vin.time_base
        vout.codec_context.time_base = vin.time_base
        vout.gop_size = gop
        vout.codec_context.options = {"preset": "veryfast", "crf": "20", "keyint_min": str(gop), "sc_threshold": "0"}
        ain = inp.streams.audio[0] if inp.streams.audio else None
        aout = out.add_stream_from_template(ain) if ain is not None else None
        t0, t1 = Fraction(start), Fraction(start) + Fraction(seconds)
        origin = Fraction(inp.start_time or 0, 1_000_000)
        for frame in inp.decode(vin):
            when = frame.pts * vin.time_base - origin
            if when < t0:
                continue
            if when >= t1:
                break
            small = frame.reformat(width=width, height=height, format="yuv420p")
            small.pts = frame.pts - round((origin + t0) / vin.time_base)
            small.time_base = vin.time_base
            out.mux(vout.encode(small))
        out.mux(vout.encode(None))
        if ain is not None:
            inp.seek(0)
            shift = round((origin + t0) / ain.time_base)
            for packet in inp.demux(ain):
                if packet.size == 0 or packet.pts is None:
                    continue
                when = packet.pts * ain.time_base - origin
                if when < t0 or when >= t1:
                    continue
                packet.pts -= shift
                packet.dts -= shift
                packet.stream = aout
                out.mux(packet)
    return dest
