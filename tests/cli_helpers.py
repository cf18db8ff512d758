"""Helpers for the end-to-end tests: run the CLI, read streams back with PyAV."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str | Path, timeout: float = 300, env: dict | None = None,
            program: Sequence[str | Path] = ("-m", "gpen_video")) -> subprocess.CompletedProcess:
    """Run ``python -m gpen_video ARGS`` (or ``python PROGRAM ARGS``) from the checkout, capturing text output."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("GPEN_VIDEO_DEBUG", None)
    return subprocess.run(
        [sys.executable, *map(str, program), *map(str, args)],
        cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def save_tiny_gpen(path: Path, *, wrapped: bool = False) -> Path:
    """A seeded random-weight GPEN at 64 px, saved bare, or wrapped the way official files are
    (``g_ema`` with a ``module.`` prefix). Returns ``path``."""
    import torch

    from gpen_video.models.gpen import build_gpen

    torch.manual_seed(0)
    state = build_gpen(64, channel_multiplier=1, narrow=0.25, style_dim=64, n_mlp=2).state_dict()
    torch.save({"g_ema": {f"module.{k}": v for k, v in state.items()}} if wrapped else state, path)
    return path


def video_pts(path: Path) -> list[int]:
    """Presentation timestamps of every decoded video frame, in order."""
    with av.open(str(path)) as container:
        return [frame.pts for frame in container.decode(video=0)]


def audio_packets(path: Path, start: float | None = None, end: float | None = None) -> list[bytes]:
    """Payload bytes of every audio packet of the first audio stream, optionally within [start, end)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = []
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            t = float(packet.pts * packet.time_base)
            if (start is None or t >= start - 1e-6) and (end is None or t < end):
                packets.append(bytes(packet))
        return packets


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files in ``folder`` other than ``keep`` (temporary outputs that should not exist)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)
