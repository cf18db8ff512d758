"""Short cuts of the shared clips for the batch tests: re-encoded smaller, audio packets copied."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


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
