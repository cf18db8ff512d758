"""Small synthetic clips, written with PyAV into a temporary folder (VFR, rotation, audio tracks, corruption)."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class AudioSpec:
    """One audio track: codec, rate, seconds of tone, first sample time (s), language tag."""

    codec: str = "aac"
    rate: int = 48000
    seconds: float = 0.45
    start: float = 0.0
    language: str = "eng"
    tone: float = 440.0


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """uint8 [H, W, 3] RGB: a gradient that moves with ``index`` and a red block at the top-left."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = ((x + 7 * index) % 256).astype(np.uint8)
    img[..., 1] = ((y + 3 * index) % 256).astype(np.uint8)
    img[..., 2] = 128
    bw, bh = max(2, width // 4), max(2, height // 4)
    img[:bh, :bw] = (255, 0, 0)
    return img


def make_clip(
    path: Path,
    *,
    size: tuple[int, int] = (64, 48),
    frames: int = 12,
    fps: int = 25,
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, 12800),
    video_start: float = 0.0,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    colorspace: int | None = None,
    trc: int | None = None,
    audio: tuple[AudioSpec, ...] = (AudioSpec(),),
    rotation: int | None = None,
    interlaced: bool = False,
    image=pattern,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a clip; ``pts`` (in ``time_base``) gives VFR timing, else frames are 1/fps apart."""
    out = av.open(str(path), "w")
    if metadata:
        out.metadata.update(metadata)
    v = out.add_stream(codec, rate=fps)
    v.width, v.height = size
    v.pix_fmt = pix_fmt
    v.codec_context.time_base = time_base
    v.time_base = time_base
    if colorspace is not None:
        v.codec_context.colorspace = v.codec_context.color_primaries = v.codec_context.color_trc = colorspace
        v.codec_context.color_range = 1
    if trc is not None:
        v.codec_context.color_trc = trc
    if interlaced:
        v.codec_context.options = {"x264-params": "tff=1"}
        v.codec_context.flags |= av.codec.context.Flags.interlaced_dct
    if rotation is not None:
        v.set_display_rotation(rotation)
    streams = []
    for spec in audio:
        a = out.add_stream(spec.codec, rate=spec.rate, layout="stereo")
        a.metadata["language"] = spec.language
        streams.append((a, spec))
    if pts is None:
        step = round(1 / Fraction(fps) / time_base)
        start = round(Fraction(video_start) / time_base)
        pts = [start + i * step for i in range(frames)]
    matrix = {1: "itu709", 5: "itu601", 6: "itu601", 9: "bt2020"}.get(colorspace or 0)
    for i, p in enumerate(pts):
        rgb = av.VideoFrame.from_ndarray(image(i, *size), format="rgb24")
        frame = rgb.reformat(format=pix_fmt, dst_colorspace=matrix, dst_color_range="MPEG") if matrix else rgb
        frame.pts = p
        frame.time_base = time_base
        out.mux(v.encode(frame))
    out.mux(v.encode(None))
    for a, spec in streams:
        _write_tone(out, a, spec)
    out.close()
    return path


def _write_tone(out: av.container.OutputContainer, stream, spec: AudioSpec) -> None:
    chunk = 1024
    total = int(spec.seconds * spec.rate)
    first = round(spec.start * spec.rate)
    t = np.arange(total, dtype=np.float32) / spec.rate
    wave = (0.2 * np.sin(2 * np.pi * spec.tone * t)).astype(np.float32)
    for offset in range(0, total, chunk):
        samples = wave[offset : offset + chunk]
        frame = av.AudioFrame.from_ndarray(np.stack([samples, samples])[None].reshape(1, -1), format="flt", layout="stereo")
        frame.sample_rate = spec.rate
        frame.pts = first + offset
        frame.time_base = Fraction(1, spec.rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def make_resolution_change(path: Path, first: tuple[int, int], second: tuple[int, int], frames_each: int = 6) -> Path:
    """An H.264 MPEG-TS whose size changes from ``first`` to ``second`` half-way (two encoders, one stream)."""
    tb = Fraction(1, 25)
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height = first
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = tb
    later = av.CodecContext.create("libx264", "w")
    later.width, later.height = second
    later.pix_fmt = "yuv420p"
    later.time_base = tb
    for i in range(2 * frames_each):
        size = first if i < frames_each else second
        frame = av.VideoFrame.from_ndarray(pattern(i, *size), format="rgb24")
        frame.pts = i
        if i < frames_each:
            out.mux(stream.encode(frame))
            if i == frames_each - 1:
                out.mux(stream.encode(None))
            continue
        for packet in later.encode(frame):
            packet.stream, packet.time_base = stream, tb
            out.mux(packet)
    for packet in later.encode(None):
        packet.stream, packet.time_base = stream, tb
        out.mux(packet)
    out.close()
    return path


def corrupt_video_packets(path: Path, which: range) -> None:
    """Overwrite the payload of the video packets numbered ``which`` with 0xFF bytes, in place."""
    with av.open(str(path)) as c:
        spans = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    data = bytearray(path.read_bytes())
    for pos, size in (spans[i] for i in which):
        data[pos : pos + size] = b"\xff" * size
    path.write_bytes(bytes(data))


def make_raw_h264(path: Path, *, size: tuple[int, int] = (64, 48), frames: int = 20, fps: int = 25) -> Path:
    """A raw H.264 elementary stream (``format="h264"``): its packets carry no timestamps."""
    with av.open(str(path), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, *size), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
